import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const RECORD_BYTES = 4096;
const RECORD_MAGIC = 0x4345525952524546n; // "FERRYREC", little-endian
const CHECKSUM_OFFSET = 32;
const DEFAULT_RING_MIB = 64;

/** What the small guest's records on a disk image say (layout: test/lab/guest/disk-records.h). */
export interface DiskRecordsReport {
  /** The highest record number found intact (0: none). */
  last: number;
  /**
   * The lowest record the ring should still hold at or below `last` that is
   * missing or corrupt; undefined when every one is intact. The ring's
   * oldest slot is not checked: the next write overwrites it.
   */
  firstBad: number | undefined;
  /** The last record of the intact run that ends at `last` or just below `firstBad`. */
  lastIntact: number;
  /** Blocks in the ring that are neither empty nor a record intact in its right slot. */
  corruptSlots: number;
  slots: number;
  /** The boots (generation ids, hex) that wrote the intact records, oldest first. */
  generations: string[];
}

export interface CheckDiskRecordsOptions {
  /** The ring the guest used (its `ferry.disk_ring_mb`); default 64 MiB or the whole disk if smaller. */
  ringMiB?: number;
  /** Read an image a running QEMU holds (`qemu-img -U`): a snapshot of a moving target. */
  forceShare?: boolean;
  signal?: AbortSignal;
}

/**
 * Reads the record ring from a disk image (qcow2 or raw, through `qemu-img
 * dd`, so no guest and no nbd is needed) and checks every record. A test
 * that saw the guest acknowledge record N asserts `report.firstBad ===
 * undefined && report.last >= N`: every acknowledged write is on the image.
 *
 * @example
 * const report = await checkDiskRecords('/run/ferry-test/a/web.qcow2');
 * assert.equal(report.firstBad, undefined);
 * assert.ok(report.last >= Number(probeReport.lastDiskRecord));
 */
export async function checkDiskRecords(image: string, options: CheckDiskRecordsOptions = {}): Promise<DiskRecordsReport> {
  const share = options.forceShare ? ['-U'] : [];
  const { stdout } = await run('qemu-img', ['info', ...share, '--output=json', image], { signal: options.signal });
  const info = JSON.parse(stdout) as { 'virtual-size': number; format: string };
  const ringBytes = Math.min(info['virtual-size'], (options.ringMiB ?? DEFAULT_RING_MIB) * 2 ** 20);
  const slots = Math.floor(ringBytes / RECORD_BYTES);
  const work = await mkdtemp(join(tmpdir(), 'ferry-disk-records-'));
  try {
    const raw = join(work, 'ring.raw');
    await run('qemu-img', ['dd', ...share, '-f', info.format, '-O', 'raw', `bs=${RECORD_BYTES}`, `count=${slots}`, `if=${image}`, `of=${raw}`], { signal: options.signal });
    return checkRing(await readFile(raw), slots);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Checks a ring of `slots` records held in `ring` (the image's first slots × 4 KiB). */
export function checkRing(ring: Buffer, slots: number): DiskRecordsReport {
  const found: number[] = new Array<number>(slots).fill(0);
  const generationOf = new Map<number, string>();
  let last = 0;
  let corruptSlots = 0;
  for (let slot = 0; slot < slots; slot++) {
    const block = ring.subarray(slot * RECORD_BYTES, (slot + 1) * RECORD_BYTES);
    const number = recordNumber(block, slot, slots);
    if (number === 'corrupt') corruptSlots++;
    else if (number > 0) {
      found[slot] = number;
      generationOf.set(number, block.readBigUInt64LE(16).toString(16).padStart(16, '0'));
      if (number > last) last = number;
    }
  }
  const oldest = last + 2 > slots ? last + 2 - slots : 1;
  let firstBad: number | undefined;
  const generations: string[] = [];
  for (let n = oldest; n <= last; n++) {
    if (found[(n - 1) % slots] !== n) {
      firstBad = n;
      break;
    }
    const generation = generationOf.get(n);
    if (generation !== undefined && generations.at(-1) !== generation) generations.push(generation);
  }
  return { last, firstBad, lastIntact: firstBad === undefined ? last : firstBad - 1, corruptSlots, slots, generations };
}

function recordNumber(block: Buffer, slot: number, slots: number): number | 'corrupt' {
  if (block.readBigUInt64LE(0) !== RECORD_MAGIC) return block.every((byte) => byte === 0) ? 0 : 'corrupt';
  const number = Number(block.readBigUInt64LE(8));
  const intact =
    block.readUInt32LE(CHECKSUM_OFFSET) === blockChecksum(block) &&
    number > 0 &&
    Number(block.readBigUInt64LE(24)) === slots &&
    (number - 1) % slots === slot;
  return intact ? number : 'corrupt';
}

/** FNV-1a (32-bit) over the block with its checksum field read as zero, as the guest computes it. */
function blockChecksum(block: Buffer): number {
  let hash = 2166136261;
  for (let i = 0; i < RECORD_BYTES; i++) {
    const byte = i >= CHECKSUM_OFFSET && i < CHECKSUM_OFFSET + 4 ? 0 : (block[i] ?? 0);
    hash = Math.imul(hash ^ byte, 16777619) >>> 0;
  }
  return hash;
}
