import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const RECORD_LINE = 72;
const RECORDS_FILE = '/var/lib/ferry/records';

/** What a stopped Debian guest's root image holds (records: test/lab/debian/records.h). */
export interface DebianDiskReport {
  /** Complete records in the file. */
  records: number;
  /** The first record that is not intact (undefined: all are). */
  firstBad: number | undefined;
  /** Bytes of a last record cut short (a crash mid-write; never an acknowledged one). */
  tornTail: number;
  /** `e2fsck -fn` found nothing to fix. */
  fileSystemClean: boolean;
  /** e2fsck's output, for a failure message. */
  fileSystemReport: string;
}

/**
 * Checks a stopped Debian guest's root image offline, on a raw copy: the
 * journal replayed, then `e2fsck -fn` on the file system, and every record the writer appended (read with debugfs, no
 * mount). A test that saw the guest acknowledge N records (from
 * `ferry-verify-records` or /run/ferry-records.acknowledged) asserts
 * `report.firstBad === undefined && report.records >= N`.
 *
 * @example
 * await lab.stopVm('b', 'deb');
 * const report = await checkDebianDisk(lab.debianDiskPath('b', 'deb'));
 * assert.ok(report.fileSystemClean, report.fileSystemReport);
 */
export async function checkDebianDisk(image: string, options: { signal?: AbortSignal } = {}): Promise<DebianDiskReport> {
  const work = await mkdtemp(join(tmpdir(), 'ferry-debian-disk-'));
  try {
    const raw = join(work, 'root.raw');
    await run('qemu-img', ['convert', '-O', 'raw', image, raw], { signal: options.signal });
    // A guest stopped without shutting down leaves its journal to replay, as
    // its next boot would: replay it on this copy, then check read-only
    // (-n answers no to every fix; exit status 0 means nothing to fix).
    await run('e2fsck', ['-E', 'journal_only', '-y', raw], { signal: options.signal }).catch(() => undefined);
    const fsck = await run('e2fsck', ['-fn', raw], { signal: options.signal }).then(
      (done) => ({ clean: true, output: done.stdout + done.stderr }),
      (error: { stdout?: string; stderr?: string }) => ({ clean: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    const { stdout } = await run('debugfs', ['-R', `cat ${RECORDS_FILE}`, raw], { signal: options.signal, encoding: 'buffer', maxBuffer: 1 << 30 });
    return { ...checkRecords(stdout), fileSystemClean: fsck.clean, fileSystemReport: fsck.output };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Checks the record file's bytes as the guest's ferry-verify-records does. */
export function checkRecords(file: Buffer): Pick<DebianDiskReport, 'records' | 'firstBad' | 'tornTail'> {
  const records = Math.floor(file.length / RECORD_LINE);
  let firstBad: number | undefined;
  for (let n = 1; n <= records && firstBad === undefined; n++) {
    const line = file.subarray((n - 1) * RECORD_LINE, n * RECORD_LINE).toString('latin1');
    if (line !== expectedLine(line, n)) firstBad = n;
  }
  return { records, firstBad, tornTail: file.length % RECORD_LINE };
}

/** The record `number` as the writer would have written it for the generation `line` names (records.h). */
function expectedLine(line: string, number: number): string | undefined {
  const generationHex = line.slice(13, 29);
  if (!/^[0-9a-f]{16}$/.test(generationHex)) return undefined;
  const mask = (1n << 64n) - 1n;
  const n = BigInt(number);
  const generation = BigInt(`0x${generationHex}`);
  const a = ((n * 0x9e3779b97f4a7c15n) & mask) ^ generation;
  const b = (a * 0xbf58476d1ce4e5b9n + n) & mask;
  const hex = (value: bigint): string => value.toString(16).padStart(16, '0');
  const text = `${String(number).padStart(12, '0')} ${generationHex} ${hex(a)}${hex(b)} `;
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0;
  return `${text}${hash.toString(16).padStart(8, '0')}\n`;
}
