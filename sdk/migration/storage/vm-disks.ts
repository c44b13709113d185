import type { BlockInfo, QmpClient } from '../../qmp/index.ts';
import { diskImages, type DiskImage } from '../disk-images.ts';

/** One disk of a running VM, as its QEMU has it open. */
export interface VmDisk {
  /** The `-drive` id, or the qdev path of a `-blockdev` disk: how people name it. */
  device: string;
  /** The root node a mirror copies from (an auto-named `#block…` for `-drive`). */
  nodeName: string;
  /** The image file the command line names. */
  path: string;
  format: string;
  virtualSizeBytes: number;
  /** Bytes the image takes on its host's storage. */
  allocatedBytes: number;
  /** The image's backing file, if it has one (a copy is flattened: see storage-plan.ts). */
  backingFile?: string;
  cache: 'none' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe';
  writable: boolean;
}

/**
 * The VM's disks: the image files its command line opens, matched with what
 * `query-block` says about each (node, format, exact size, backing file).
 * Images QEMU does not report (an empty CD-ROM drive) are left out; images
 * on network protocols are not files and never listed.
 */
export async function readVmDisks(qmp: QmpClient, argv: readonly string[], options: { signal?: AbortSignal } = {}): Promise<VmDisk[]> {
  const images = diskImages(argv);
  if (images.length === 0) return [];
  const blocks = await qmp.execute('query-block', {}, { ...(options.signal && { signal: options.signal }) });
  return disksOf(images, blocks);
}

/** Pure: the command line's images joined with `query-block`'s entries by file name. */
export function disksOf(images: readonly DiskImage[], blocks: readonly BlockInfo[]): VmDisk[] {
  const disks: VmDisk[] = [];
  for (const image of images) {
    const block = blocks.find((entry) => entry.inserted?.image.filename === image.path || entry.inserted?.file === image.path);
    const inserted = block?.inserted;
    if (!block || !inserted) continue;
    disks.push({
      device: block.device || block.qdev || inserted['node-name'] || image.path,
      nodeName: inserted['node-name'] ?? block.device,
      path: image.path,
      format: inserted.image.format,
      virtualSizeBytes: inserted.image['virtual-size'],
      allocatedBytes: inserted.image['actual-size'] ?? inserted.image['virtual-size'],
      ...(inserted.backing_file !== undefined && { backingFile: inserted.backing_file }),
      cache: cacheMode(inserted.cache),
      writable: image.writable && !inserted.ro,
    });
  }
  return disks;
}

function cacheMode(cache: { writeback: boolean; direct: boolean; 'no-flush': boolean }): VmDisk['cache'] {
  if (cache['no-flush']) return 'unsafe';
  if (cache.direct) return cache.writeback ? 'none' : 'directsync';
  return cache.writeback ? 'writeback' : 'writethrough';
}
