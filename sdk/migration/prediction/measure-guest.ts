import { setTimeout as sleep } from 'node:timers/promises';
import type { Vm } from '../../model/vm.ts';
import { SAMPLE_PAGES_PER_GIB, sampledRateBytes } from '../dirty-rate-sample.ts';
import { dirtyingFromWindows, type DirtyWindow, type GuestDirtying } from './dirty-windows.ts';

/**
 * How the guest dirties memory, by QEMU's `calc-dirty-rate` (page sampling:
 * the only mode that is safe everywhere; dirty-bitmap mode crashed QEMU 7.2
 * under TCG on the lab, dirty-ring needs KVM): three 1 s windows for the
 * rate, one 3 s window for the working set (see dirtyingFromWindows).
 * Page sampling compares page contents, so a write that stores the value a
 * page already held is not seen: the figure is a lower bound.
 */
export async function measureDirtying(vm: Vm, options: { windows?: readonly number[]; signal?: AbortSignal } = {}): Promise<GuestDirtying> {
  const windows: DirtyWindow[] = [];
  for (const seconds of options.windows ?? [1, 1, 1, 3]) windows.push({ seconds, rate: await sampleDirtyRate(vm, seconds, options.signal) });
  return dirtyingFromWindows(windows);
}

async function sampleDirtyRate(vm: Vm, seconds: number, signal: AbortSignal | undefined): Promise<number> {
  return vm.withQmp(async (qmp) => {
    await qmp.execute('calc-dirty-rate', { 'calc-time': seconds, 'sample-pages': SAMPLE_PAGES_PER_GIB, mode: 'page-sampling' }, { signal });
    await sleep(seconds * 1000, undefined, { signal });
    for (let i = 0; i < 100; i++) {
      const info = await qmp.execute('query-dirty-rate', {}, { signal });
      if (info.status === 'measured') return sampledRateBytes(info);
      await sleep(100, undefined, { signal });
    }
    throw new Error(`${vm.label}: calc-dirty-rate did not finish`);
  }, { signal });
}

/**
 * The share of guest RAM that is not zero pages (QEMU sends zero pages as a
 * few bytes): the first 512 bytes of `samples` random pages below 2 GiB,
 * read through the monitor's `xp`. A page whose first 512 bytes are zero is
 * counted as zero, so this leans low for sparse pages.
 */
export async function measureNonZeroShare(vm: Vm, memoryBytes: number, options: { samples?: number; signal?: AbortSignal } = {}): Promise<number> {
  const samples = options.samples ?? 384; // ±2 points of share (σ) instead of ±4 at 128: the first pass is most of an idle guest's time
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
