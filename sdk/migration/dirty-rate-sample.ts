import type { DirtyRateInfo } from '../qmp/index.ts';

/**
 * How ferry asks QEMU's `calc-dirty-rate` (page sampling) and reads its
 * answer, before a migration (prediction) and during one (LiveDirtyRate).
 */

/** Pages sampled per GiB: QEMU's most. Each is hashed twice, so it costs little; fewer left 1 s windows noisy. */
export const SAMPLE_PAGES_PER_GIB = 4096;

/** The measured rate in bytes/s: QEMU counts RAM in MiB (used_length >> 20), so its "MB/s" are MiB/s. */
export function sampledRateBytes(info: DirtyRateInfo): number {
  return (info['dirty-rate'] ?? 0) * 1024 ** 2;
}
