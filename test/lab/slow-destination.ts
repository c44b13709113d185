import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from './lab.ts';

/**
 * Makes `name`'s QEMU on `host` a slow loader, as a destination on a starved
 * host or with memory slow to fault in is: once it runs (ferry starts it), it
 * is stopped `stopMs` of every `stopMs + runMs` (SIGSTOP, SIGCONT). The
 * migration stream then waits in the sockets' buffers. `stop()` ends the
 * cycle and leaves the QEMU running.
 */
export function slowLoader(lab: Lab, host: string, name: string, stopMs = 30, runMs = 5): { stop: () => Promise<void> } {
  let stopped = false;
  let pid: number | undefined;
  const signal = (which: NodeJS.Signals) => {
    try {
      if (pid !== undefined) process.kill(pid, which);
    } catch {
      pid = undefined; // it exited: wait for the next one
    }
  };
  const cycle = (async () => {
    while (!stopped) {
      pid ??= await lab.vmPid(host, name);
      if (pid === undefined) {
        await sleep(5);
        continue;
      }
      signal('SIGSTOP');
      await sleep(stopMs);
      signal('SIGCONT');
      await sleep(runMs);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await cycle;
      signal('SIGCONT');
    },
  };
}
