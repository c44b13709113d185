import { randomBytes } from 'node:crypto';
import type { Host } from '../../model/host.ts';
import { sh } from '../../transport/index.ts';
import { directoryOf, type StorageFacts } from './storage-plan.ts';
import type { VmDisk } from './vm-disks.ts';

/** Beside an image ferry moved away from: says the file is a stale copy of which VM, so a later move back may replace it. */
export function leftoverMarkerPath(imagePath: string): string {
  return `${imagePath}.ferry-left`;
}

/**
 * What the two hosts show about the disks' files, in one round trip to each:
 * a marker made beside each writable image on the source and looked for on
 * the destination proves shared storage (the same file, not merely the same
 * name); the destination also says which image paths already hold a file
 * (and whether ferry left it there), and whether each directory takes a copy
 * and has room for it.
 */
export async function readStorageFacts(source: Host, destination: Host, disks: readonly VmDisk[], options: { signal?: AbortSignal } = {}): Promise<StorageFacts> {
  const marker = `.ferry-shared-${randomBytes(6).toString('hex')}`;
  const dirs = [...new Set(disks.map((disk) => directoryOf(disk.path)))];
  const writableDirs = [...new Set(disks.filter((disk) => disk.writable).map((disk) => directoryOf(disk.path)))];
  const markers = writableDirs.map((dir) => `${dir.replace(/\/$/, '')}/${marker}`);
  const made = new Set<string>();
  try {
    if (markers.length > 0) {
      const { stdout } = await source.transport.shell(sh`for m in ${markers}; do : > "$m" 2>/dev/null && echo "$m"; done; true`, options);
      for (const line of stdout.split('\n')) if (line) made.add(line);
    }
    const paths = disks.map((disk) => disk.path);
    const leftovers = paths.map(leftoverMarkerPath);
    // Tab-separated lines: "marker PATH", "file PATH", "left PATH VM", "dir PATH WRITABLE FREE-KIB".
    const script = sh`for m in ${markers}; do [ -e "$m" ] && printf 'marker\t%s\n' "$m"; done
for f in ${paths}; do [ -e "$f" ] && printf 'file\t%s\n' "$f"; done
for l in ${leftovers}; do [ -f "$l" ] && printf 'left\t%s\t%s\n' "$l" "$(head -c 200 "$l" | head -n 1)"; done
for d in ${dirs}; do
  w=0; [ -d "$d" ] && [ -w "$d" ] && w=1
  free=$(df -Pk "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')
  printf 'dir\t%s\t%s\t%s\n' "$d" "$w" "\${free:-0}"
done
true`;
    const { stdout } = await destination.transport.shell(script, options);
    const seenMarkers = new Set<string>();
    const files = new Map<string, { leftoverOf?: string }>();
    const leftoverOf = new Map<string, string>();
    const destinationDirs = new Map<string, { writable: boolean; freeBytes: number }>();
    for (const line of stdout.split('\n')) {
      const [kind, path = '', a = '', b = ''] = line.split('\t');
      if (kind === 'marker') seenMarkers.add(path);
      else if (kind === 'file') files.set(path, {});
      else if (kind === 'left') leftoverOf.set(path, a);
      else if (kind === 'dir') destinationDirs.set(path, { writable: a === '1', freeBytes: Number(b) * 1024 });
    }
    for (const [path, file] of files) {
      const vm = leftoverOf.get(leftoverMarkerPath(path));
      if (vm) file.leftoverOf = vm;
    }
    const shared = new Set<string>();
    const unprovable = new Set<string>();
    for (const disk of disks) {
      if (!disk.writable) continue;
      const probe = `${directoryOf(disk.path).replace(/\/$/, '')}/${marker}`;
      if (!made.has(probe)) unprovable.add(disk.path);
      else if (seenMarkers.has(probe)) shared.add(disk.path);
    }
    return { shared, unprovable, onDestination: files, destinationDirs };
  } finally {
    if (made.size > 0) await source.transport.exec(['rm', '-f', '--', ...made], { allowFailure: true });
  }
}
