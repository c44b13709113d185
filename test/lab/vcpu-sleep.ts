import { open, readFile } from 'node:fs/promises';

/**
 * When the vCPU threads `tids` of QEMU `pid` end the timed futex wait they
 * are in (QEMU's throttle sleep; a stopped vCPU waits untimed): the latest
 * deadline, ms since the epoch, or undefined if none waits timed. Read from
 * /proc as root, independently of ferry's guard (which reads the same way).
 */
export async function vcpuSleepEnd(pid: number, tids: readonly number[]): Promise<number | undefined> {
  let latest: number | undefined;
  for (const tid of tids) {
    const fields = (await readFile(`/proc/${pid}/task/${tid}/syscall`, 'utf8').catch(() => '')).trim().split(' ');
    // x86_64's futex; the lab is x86_64.
    if (fields[0] !== '202' || fields.length < 5 || BigInt(fields[4] ?? '0') === 0n) continue;
    const op = Number(BigInt(fields[2] ?? '0'));
    const mem = await open(`/proc/${pid}/mem`, 'r');
    const buffer = Buffer.alloc(16);
    try {
      await mem.read(buffer, 0, 16, Number(BigInt(fields[4] ?? '0')));
    } finally {
      await mem.close();
    }
    const ms = Number(buffer.readBigInt64LE(0)) * 1000 + Number(buffer.readBigInt64LE(8)) / 1e6;
    const nowReal = performance.timeOrigin + performance.now();
    // FUTEX_WAIT_BITSET: absolute, realtime if flagged, else monotonic; FUTEX_WAIT: relative.
    const end = (op & 127) === 9 ? ((op & 256) !== 0 ? ms : nowReal + ms - Number(process.hrtime.bigint()) / 1e6) : nowReal + ms;
    latest = Math.max(latest ?? end, end);
  }
  return latest;
}
