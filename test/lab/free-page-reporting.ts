import { open, readFile, rm, writeFile } from 'node:fs/promises';

const ORDER = '/sys/module/page_reporting/parameters/page_reporting_order';
// Beyond the largest buddy order (10): no free block is large enough to be reported.
const HELD_ORDER = '11';
const WARM_MIB = 2048;
const WARM_FILE = '/dev/shm/ferry-lab-warm';

/**
 * This lab's machine is itself a virtual machine whose kernel reports freed
 * memory to its hypervisor at once (virtio-balloon free page reporting), and
 * touching reported memory again faults in the hypervisor: 2 GiB written to
 * tmpfs took 4.2 s on such memory and 0.75 s on memory kept. A destination QEMU
 * that faults its RAM in on reported memory loads the stream at 200–330 MB/s
 * instead of 500–1150 (QEMU's own rate), so about 10 MiB wait in the sockets' buffers when QEMU
 * pauses an idle guest, and the pause waits for them (bench/idle-tail.ts).
 * Hosts that run on their own hardware keep their memory: a bench that
 * judges pauses against a tight budget holds the reporting for its run.
 *
 * Memory reported before the hold stays slow to touch, so the hold also
 * touches WARM_MIB once and frees it: the next allocations reuse that memory
 * (without it, the first move of a run still paused 52–54 ms).
 *
 * Returns the restore; a machine without the setting (or that refuses it) is
 * left as it is, and `held` says so.
 */
export async function holdFreePageReporting(): Promise<{ held: boolean; restore: () => Promise<void> }> {
  if (process.env['FERRY_LAB_PAGE_REPORTING'] === 'keep') return { held: false, restore: async () => undefined };
  const before = (await readFile(ORDER, 'utf8').catch(() => '')).trim();
  if (!before) return { held: false, restore: async () => undefined };
  try {
    await writeFile(ORDER, HELD_ORDER);
  } catch {
    return { held: false, restore: async () => undefined };
  }
  await touchOnce(WARM_MIB);
  return { held: true, restore: async () => void (await writeFile(ORDER, before).catch(() => undefined)) };
}

/** Writes `mib` MiB to tmpfs and removes it: the kernel takes that memory from its free lists and gives it back. */
async function touchOnce(mib: number): Promise<void> {
  const chunk = Buffer.alloc(1024 * 1024, 1);
  const file = await open(WARM_FILE, 'w').catch(() => undefined);
  if (!file) return;
  try {
    for (let i = 0; i < mib; i++) await file.write(chunk);
  } catch {
    // tmpfs full or absent: the hold still serves from the first moves on
  } finally {
    await file.close();
    await rm(WARM_FILE, { force: true });
  }
}
