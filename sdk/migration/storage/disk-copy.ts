import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpCommandError, type BlockJobInfo, type QmpClient } from '../../qmp/index.ts';
import { sh } from '../../transport/index.ts';
import { leftoverMarkerPath } from './storage-facts.ts';
import type { DiskPlan } from './storage-plan.ts';

/** One disk being copied: its names on each side. */
export interface CopiedDisk {
  plan: DiskPlan;
  /** The NBD export's name on the destination. */
  exportName: string;
  /** The destination's node the export writes into (read from its query-block). */
  destinationNode?: string;
  /** The source's NBD client node, the mirror's target. */
  targetNode: string;
  jobId: string;
}

/** How far the copy is: what the mirrors report together. */
export interface DiskCopyProgress {
  copiedBytes: number;
  totalBytes: number;
  /** Every mirror has caught up and now only follows the guest's writes. */
  ready: boolean;
}

export class DiskCopyError extends Error {
  override readonly name = 'DiskCopyError';
}

/**
 * Finishing the mirrors in the pause (cancel, the last writes, removing the
 * NBD nodes and export) and the flush through the NBD target at stop: 50–115
 * ms more downtime than the same guest on shared storage (75–140 ms against
 * 25 ms on the lab under TCG; bench/storage.ts).
 */
export const DISK_COPY_SWITCHOVER_OVERHEAD_MS = 60;
/** The share of a plain TCP copy's rate the mirrors reached on the same link, guest running (bench/storage.ts: 0.60–0.62). */
export const DISK_COPY_SHARE = 0.6;

// Ports the destination's NBD server tries, away from the usual ephemeral range's busiest end.
const NBD_PORT_MIN = 49_152;
const NBD_PORT_MAX = 60_999;
const NBD_PORT_TRIES = 8;
const READY_POLL_MS = 200;

/**
 * Copies a VM's local disks to the destination while the guest runs, the
 * way libvirt (--copy-storage-all) and Proxmox (--with-local-disks) do, in
 * the QEMU 7.2 sequence verified in shared/research §3: the destination's
 * QEMU (started with -S, images pre-created at the same paths, same format,
 * exact size) exports its disks over NBD; the source mirrors each disk into
 * an NBD client node; RAM migrates once every mirror is ready; in the pause
 * before switchover each mirror ends with a non-forced block-job-cancel
 * (which completes it: the target holds every write), the client node is
 * removed and the destination's export stopped, then the switchover goes on.
 * The source never pivots: its disks stay its own until the destination
 * takes over, and on any failure the source keeps them.
 */
export class DiskCopy {
  readonly disks: CopiedDisk[];
  #server: { host: string; port: number } | undefined;
  #finished = false;

  constructor(migrationId: string, plans: readonly DiskPlan[]) {
    const tag = migrationId.replace(/[^A-Za-z0-9]/g, '').slice(-8) || 'x';
    this.disks = plans.filter((plan) => plan.action === 'copy').map((plan, i) => ({
      plan,
      exportName: `ferry-${tag}-${i}`,
      targetNode: `ferry-nbd-${tag}-${i}`,
      jobId: `ferry-mirror-${tag}-${i}`,
    }));
  }

  get active(): boolean {
    return this.disks.length > 0;
  }

  get totalBytes(): number {
    return this.disks.reduce((sum, disk) => sum + disk.plan.disk.virtualSizeBytes, 0);
  }

  /** The images the destination's launch creates (the guard removes them if the destination never takes over). */
  get createdImages(): string[] {
    return this.disks.map((disk) => disk.plan.disk.path);
  }

  /**
   * The destination's launch with the images created first, each empty: the
   * same format and the exact virtual size (a mirror refuses any other), no
   * backing file (the copy is flattened). An image is made under a
   * temporary name and linked into place, which fails if a file appeared
   * there since preflight: ferry never overwrites a file it did not leave
   * there itself. If anything fails, the images this launch made (and only
   * those: the positional parameters list them) are removed again.
   */
  launchScript(startQemu: string): string {
    if (!this.active) return startQemu;
    const create = this.disks.map(({ plan: { disk, replacesLeftover } }) => {
      const temporary = `${disk.path}.ferry-new`;
      const replace = replacesLeftover ? sh`rm -f -- ${disk.path} ${leftoverMarkerPath(disk.path)} && ` : '';
      const appeared = `ferry: ${disk.path} appeared on this host since preflight; not overwritten`;
      return `${replace}${sh`rm -f -- ${temporary} && qemu-img create -q -f ${disk.format} ${temporary} ${disk.virtualSizeBytes} 1>&2 && { ln ${temporary} ${disk.path} || { rm -f -- ${temporary}; echo ${appeared} >&2; false; }; } && rm -f -- ${temporary} && set -- "$@" ${disk.path}`}`;
    });
    return `{ ${create.join(' && ')} && ${startQemu}; } || { rc=$?; rm -f -- "$@"; exit $rc; }`;
  }

  /**
   * On the destination (paused, -incoming defer): start an NBD server on
   * its migration address and export each pre-created image, writable, by
   * the node QEMU gave it (a -drive's node is auto-named: read, not guessed).
   */
  async exportOnDestination(qmp: QmpClient, address: string, signal?: AbortSignal, tls: { 'tls-creds'?: string; 'tls-authz'?: string } = {}): Promise<void> {
    const blocks = await qmp.execute('query-block', {}, signalOption(signal));
    for (const disk of this.disks) {
      const block = blocks.find((entry) => entry.inserted?.image.filename === disk.plan.disk.path || entry.inserted?.file === disk.plan.disk.path);
      const node = block?.inserted?.['node-name'];
      if (!node) throw new DiskCopyError(`the destination QEMU did not open ${disk.plan.disk.path}`);
      disk.destinationNode = node;
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < NBD_PORT_TRIES && !this.#server; attempt++) {
      const port = randomInt(NBD_PORT_MIN, NBD_PORT_MAX + 1);
      try {
        await qmp.execute('nbd-server-start', { addr: { type: 'inet', data: { host: address, port: String(port) } }, ...tls }, signalOption(signal));
        this.#server = { host: address, port };
      } catch (error) {
        // A port in use is the one failure worth another try.
        if (!(error instanceof QmpCommandError) || !/in use|bind/i.test(error.message)) throw error;
        lastError = error;
      }
    }
    if (!this.#server) throw new DiskCopyError(`no free port for the NBD server on the destination: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
    for (const disk of this.disks) {
      await qmp.execute('block-export-add', { type: 'nbd', id: disk.exportName, 'node-name': disk.destinationNode ?? '', writable: true, name: disk.exportName }, signalOption(signal));
    }
  }

  /**
   * QMP commands that undo the source's half, for its guard (run in order
   * when the VM stays on the source, ferry alive or not): stop each mirror at
   * once, then remove its NBD node once the cancelled job lets go of it.
   */
  sourceRestoreControls(): string[] {
    return [
      ...this.disks.map((disk) => `restore ${JSON.stringify({ execute: 'block-job-cancel', arguments: { device: disk.jobId, force: true } })}`),
      ...this.disks.map((disk) => `restore-retry ${JSON.stringify({ execute: 'blockdev-del', arguments: { 'node-name': disk.targetNode } })}`),
    ];
  }

  /** On the source: connect to each export and start mirroring into it, capped at `speed` bytes/s (0: no cap). */
  async startMirrors(qmp: QmpClient, speed: number, signal?: AbortSignal, tls: { 'tls-creds'?: string; 'tls-hostname'?: string } = {}): Promise<void> {
    const server = this.#server;
    if (!server) throw new Error('ferry bug: mirrors started before the destination exported its disks');
    for (const disk of this.disks) {
      await qmp.execute('blockdev-add', { driver: 'nbd', 'node-name': disk.targetNode, server: { type: 'inet', host: server.host, port: String(server.port) }, export: disk.exportName, ...tls }, signalOption(signal));
      // Background copy: the guest's writes are not slowed; what it dirties is resent, and
      // the rest is flushed in the pause before switchover (7.2 cannot change the mode later).
      await qmp.execute('blockdev-mirror', {
        'job-id': disk.jobId,
        device: disk.plan.disk.nodeName,
        target: disk.targetNode,
        sync: 'full',
        'copy-mode': 'background',
        speed,
        // A finished job goes by itself, so that nothing is left on the source on any path.
        'auto-dismiss': true,
      }, signalOption(signal));
    }
  }

  /** Where the mirrors are; a job gone or failed is an error. */
  async progress(qmp: QmpClient): Promise<DiskCopyProgress> {
    if (this.#finished) return { copiedBytes: this.totalBytes, totalBytes: this.totalBytes, ready: true };
    const jobs = await qmp.execute('query-block-jobs');
    let copied = 0;
    let total = 0;
    let ready = true;
    for (const disk of this.disks) {
      const job = jobs.find((entry) => entry.device === disk.jobId);
      if (!job) throw new DiskCopyError(`the copy of ${disk.plan.disk.path} stopped (its mirror ended: an I/O error on either side, or the destination went away)`);
      failIfBroken(disk, job);
      copied += job.offset;
      total += job.len;
      ready &&= job.ready;
    }
    return { copiedBytes: copied, totalBytes: total, ready };
  }

  /**
   * Waits until every mirror is ready, reporting progress; stops with an
   * error when the copy fails, is cancelled, or moves no byte for `stallMs`.
   */
  async waitReady(qmp: QmpClient, options: { signal: AbortSignal; stallMs: number; onProgress: (progress: DiskCopyProgress) => void }): Promise<DiskCopyProgress> {
    // QEMU says when a mirror is ready (or ends): look at once then, not at the next poll.
    const events = qmp.events(['BLOCK_JOB_READY', 'BLOCK_JOB_COMPLETED', 'BLOCK_JOB_CANCELLED', 'BLOCK_JOB_ERROR'], { signal: options.signal });
    try {
      return await this.#pollUntilReady(qmp, options, () => events.next().then(() => undefined));
    } finally {
      events.close();
    }
  }

  async #pollUntilReady(qmp: QmpClient, options: { signal: AbortSignal; stallMs: number; onProgress: (progress: DiskCopyProgress) => void }, nextEvent: () => Promise<void>): Promise<DiskCopyProgress> {
    let lastCopied = -1;
    let lastMovedAt = performance.now();
    let wake: Promise<void> | undefined;
    for (;;) {
      options.signal.throwIfAborted();
      const progress = await this.progress(qmp);
      options.onProgress(progress);
      if (progress.ready) return progress;
      const now = performance.now();
      if (progress.copiedBytes !== lastCopied) {
        lastCopied = progress.copiedBytes;
        lastMovedAt = now;
      } else if (now - lastMovedAt > options.stallMs) {
        throw new DiskCopyError(`the disk copy made no progress for ${Math.round(options.stallMs / 1000)} s (the link to the destination is down?)`);
      }
      wake ??= nextEvent().finally(() => (wake = undefined));
      await Promise.race([sleep(READY_POLL_MS, undefined, { signal: options.signal }).catch(() => undefined), wake]);
    }
  }

  /** Sets every mirror's speed cap (bytes/s; 0: none). */
  async setSpeed(qmp: QmpClient, speed: number): Promise<void> {
    await Promise.all(this.disks.map((disk) => qmp.execute('block-job-set-speed', { device: disk.jobId, speed })));
  }

  /**
   * In the pause before switchover (the guest stopped, nothing more to
   * write): each mirror sends what is left and completes, a non-forced
   * cancel that leaves the target consistent, never a pivot; the source
   * drops its NBD nodes and the destination its export and server, which
   * must be gone before its disks are activated at resume.
   */
  async finishInPause(src: QmpClient, dst: QmpClient, timeoutMs: number): Promise<void> {
    const events = src.events(['BLOCK_JOB_COMPLETED', 'BLOCK_JOB_CANCELLED'], { signal: AbortSignal.timeout(timeoutMs) });
    try {
      const pending = new Set(this.disks.map((disk) => disk.jobId));
      await Promise.all(this.disks.map((disk) => src.execute('block-job-cancel', { device: disk.jobId })));
      while (pending.size > 0) {
        const { done, value: event } = await events.next();
        if (done) throw new DiskCopyError(`the disk copies did not finish within ${timeoutMs} ms of the pause`);
        const data: { device: string; error?: string } = event.data;
        const disk = this.disks.find((entry) => entry.jobId === data.device);
        if (!disk || !pending.has(disk.jobId)) continue;
        // A non-forced cancel of a ready mirror ends COMPLETED with the target in step; anything else lost writes.
        if (event.event !== 'BLOCK_JOB_COMPLETED' || data.error !== undefined) {
          throw new DiskCopyError(`the copy of ${disk.plan.disk.path} did not complete: ${data.error ?? event.event}`);
        }
        pending.delete(disk.jobId);
      }
      this.#finished = true;
    } finally {
      events.close();
    }
    await Promise.all([
      Promise.all(this.disks.map((disk) => src.execute('blockdev-del', { 'node-name': disk.targetNode }))),
      (async () => {
        // The source completed every mirror: nothing more will come, so drop the exports at once.
        await Promise.all(this.disks.map((disk) => dst.execute('block-export-del', { id: disk.exportName, mode: 'hard' })));
        await dst.execute('nbd-server-stop');
      })(),
    ]);
  }
}

function failIfBroken(disk: CopiedDisk, job: BlockJobInfo): void {
  if (job.status === 'concluded' || job.status === 'aborting' || job['io-status'] !== 'ok' || job.error) {
    throw new DiskCopyError(`the copy of ${disk.plan.disk.path} failed: ${job.error ?? `mirror ${job.status}, I/O ${job['io-status']}`}`);
  }
}

function signalOption(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}
