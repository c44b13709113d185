const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/**
 * Bytes from a number or a size such as `'8GiB'` or `'512 MiB'` (the config's
 * `memoryBudget`). Returns undefined when it cannot be read.
 *
 * @example
 * parseMemorySize('1.5GiB'); // 1610612736
 */
export function parseMemorySize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(value);
  if (!match) return undefined;
  const scale = UNITS[(match[2] ?? '').toLowerCase()];
  return scale === undefined ? undefined : Math.round(Number(match[1]) * scale);
}

/**
 * The guest RAM a QEMU command line asks for (`-m 512`, `-m 1G`,
 * `-m size=2G,maxmem=…`): MiB unless suffixed, QEMU's 128 MiB when absent.
 */
export function guestMemoryFromArgv(argv: readonly string[]): number {
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== '-m' && argv[i] !== '--m') continue;
    const fields = (argv[i + 1] ?? '').split(',');
    const size = fields.find((field) => field.startsWith('size='))?.slice(5) ?? (fields[0]?.includes('=') ? undefined : fields[0]);
    const match = /^(\d+(?:\.\d+)?)([kmgt])?b?$/i.exec(size ?? '');
    if (!match) break;
    const unit = (match[2] ?? 'm').toLowerCase();
    const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] ?? 1024 ** 2;
    return Math.round(Number(match[1]) * scale);
  }
  return 128 * 1024 ** 2;
}
