import { setTimeout as sleep } from 'node:timers/promises';
import type { Host } from '../model/host.ts';
import { throwIfAborted } from '../ferry-error.ts';

/**
 * Waits until the host runs a command over SSH again (after a reboot the
 * transport connects anew on the next command). Resolves with how long it
 * took, or undefined when `timeoutMs` passed without an answer.
 *
 * @example
 * if ((await waitForHost(host, { timeoutMs: 600_000 })) === undefined) throw new Error('b never came back');
 */
export async function waitForHost(host: Host, options: { timeoutMs: number; signal?: AbortSignal; pollMs?: number }): Promise<number | undefined> {
  const started = performance.now();
  const deadline = started + options.timeoutMs;
  for (;;) {
    throwIfAborted(options.signal);
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    try {
      await host.transport.exec(['true'], { timeoutMs: Math.max(1000, Math.min(15_000, left)), ...(options.signal && { signal: options.signal }) });
      return Math.round(performance.now() - started);
    } catch {
      throwIfAborted(options.signal);
      await sleep(Math.min(options.pollMs ?? 2000, Math.max(0, deadline - performance.now())), undefined, options.signal ? { signal: options.signal } : undefined).catch(() => undefined);
    }
  }
}
