import { setTimeout as sleep } from 'node:timers/promises';
import type { Vm } from '../../model/vm.ts';

/**
 * The guest's dirty rate by QEMU's `calc-dirty-rate` (page sampling: the
 * only mode that is safe everywhere; dirty-bitmap mode crashed QEMU 7.2
 * under TCG on the lab). Sampling under-reads slow writers (a guest
 * writing 10 MB/s read 0 on the lab), so the figure is a lower bound.
 */
export async function measureDirtyRate(vm: Vm, options: { seconds?: number; signal?: AbortSignal } = {}): Promise<number> {
  const seconds = options.seconds ?? 3;
  return vm.withQmp(async (qmp) => {
    await qmp.execute('calc-dirty-rate', { 'calc-time': seconds, 'sample-pages': 4096, mode: 'page-sampling' }, { signal: options.signal });
    await sleep(seconds * 1000, undefined, { signal: options.signal });
    for (let i = 0; i < 100; i++) {
      const info = await qmp.execute('query-dirty-rate', {}, { signal: options.signal });
      if (info.status === 'measured') return (info['dirty-rate'] ?? 0) * 1e6;
      await sleep(100, undefined, { signal: options.signal });
    }
    throw new Error(`${vm.label}: calc-dirty-rate did not finish`);
  }, { signal: options.signal });
}

/**
 * The share of guest RAM that is not zero pages (QEMU sends zero pages as a
 * few bytes): the first 512 bytes of `samples` random pages below 2 GiB,
 * read through the monitor's `xp`. A page whose first 512 bytes are zero is
 * counted as zero, so this leans low for sparse pages.
 */
export async function measureNonZeroShare(vm: Vm, memoryBytes: number, options: { samples?: number; signal?: AbortSignal } = {}): Promise<number> {
  const samples = options.samples ?? 128;
  const span = Math.min(memoryBytes, 2 * 1024 ** 3);
  const pages = Math.floor(span / 4096);
  return vm.withQmp(async (qmp) => {
    let nonZero = 0;
    for (let i = 0; i < samples; i++) {
      const page = 256 + Math.floor(((i + Math.random()) / samples) * (pages - 256));
      const text = await qmp.execute('human-monitor-command', { 'command-line': `xp /64xg 0x${(page * 4096).toString(16)}` }, { signal: options.signal });
      if (/0x0*[1-9a-f][0-9a-f]*(?:\s|$)/i.test(text.replace(/^[0-9a-f]+:/gim, ''))) nonZero++;
    }
    return nonZero / samples;
  }, { signal: options.signal });
}
