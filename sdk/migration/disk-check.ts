import { randomBytes } from 'node:crypto';
import type { Host } from '../model/host.ts';
import { sh } from '../transport/index.ts';
import type { DiskImage } from './disk-images.ts';
import type { PreflightCheck } from './migration-errors.ts';

/**
 * Checks that the destination will open the guest's own disks: a writable
 * image must be the very file the source has open, which ferry proves by
 * a marker file made beside it on the source and looked for on the
 * destination (shared storage); a read-only image must at least be there.
 * ferry does not copy disks yet, so anything else is refused before
 * anything moves: a destination started on another file of the same name
 * would lose the guest's newest writes.
 */
export async function checkDisksSrcDst(source: Host, destination: Host, images: readonly DiskImage[], options: { signal?: AbortSignal } = {}): Promise<PreflightCheck[]> {
  if (images.length === 0) return [];
  const marker = `.ferry-shared-${randomBytes(6).toString('hex')}`;
  const dirs = [...new Set(images.filter((image) => image.writable).map((image) => image.path.slice(0, image.path.lastIndexOf('/')) || '/'))];
  const markers = dirs.map((dir) => `${dir}/${marker}`);
  const made = new Set<string>();
  try {
    if (markers.length > 0) {
      const { stdout } = await source.transport.shell(sh`for m in ${markers}; do : > "$m" 2>/dev/null && echo "$m"; done; true`, options);
      for (const line of stdout.split('\n')) if (line) made.add(line);
    }
    const probes = [...markers, ...images.map((image) => image.path)];
    const { stdout } = await destination.transport.shell(sh`for f in ${probes}; do [ -r "$f" ] && echo "$f"; done; true`, options);
    const seen = new Set(stdout.split('\n').filter(Boolean));
    return images.map((image): PreflightCheck => {
      if (!image.writable) {
        return { check: 'disk-present', ok: seen.has(image.path), message: seen.has(image.path) ? `read-only image ${image.path} is on ${destination.name}` : `read-only image ${image.path} is missing on ${destination.name}: put the same file there` };
      }
      const probe = `${image.path.slice(0, image.path.lastIndexOf('/')) || ''}/${marker}`;
      if (!made.has(probe)) return { check: 'disk-shared', ok: false, message: `cannot prove ${destination.name} sees disk ${image.path} (its directory is not writable on ${source.name})` };
      return seen.has(probe)
        ? { check: 'disk-shared', ok: true, message: `disk ${image.path} is on storage ${source.name} and ${destination.name} share` }
        : { check: 'disk-shared', ok: false, message: `disk ${image.path} is not on storage shared with ${destination.name} (a file there of the same name would be another disk): ferry does not copy disks yet, so put it on shared storage` };
    });
  } finally {
    if (made.size > 0) await source.transport.exec(['rm', '-f', '--', ...made], { allowFailure: true });
  }
}
