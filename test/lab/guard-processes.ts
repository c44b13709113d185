import { readdirSync, readFileSync } from 'node:fs';

/** How many of ferry's guard processes for `vm` are alive on this machine (every lab host's processes are here). */
export function guardsAlive(vm: string): number {
  let count = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv[0] === 'perl' && argv.includes(`label=${vm}`)) count++;
    } catch {
      // gone meanwhile
    }
  }
  return count;
}
