/** A disk image on a QEMU command line. */
export interface DiskImage {
  path: string;
  /** The guest can write it (not readonly, not a CD-ROM). */
  writable: boolean;
}

/**
 * The image files a QEMU command line opens: `-drive file=…`, `-blockdev`
 * file nodes (dotted or JSON), `-hda`…`-hdd`, `-cdrom`. Only plain paths
 * (network protocols such as nbd: or rbd: are not files on a host).
 *
 * @example
 * diskImages(['-drive', 'file=/var/lib/vms/web.qcow2,if=virtio']); // [{ path: '/var/lib/vms/web.qcow2', writable: true }]
 */
export function diskImages(argv: readonly string[]): DiskImage[] {
  const images: DiskImage[] = [];
  for (let i = 0; i < argv.length - 1; i++) {
    const option = (argv[i] ?? '').replace(/^--/, '-');
    const value = argv[i + 1] ?? '';
    if (option === '-drive') {
      const fields = keyValues(value);
      const file = fields.get('file');
      if (file?.startsWith('/')) images.push({ path: file, writable: fields.get('readonly') !== 'on' && fields.get('media') !== 'cdrom' });
    } else if (option === '-blockdev') {
      const node = value.trimStart().startsWith('{') ? jsonFields(value) : keyValues(value);
      const file = node.get('filename');
      if (node.get('driver') === 'file' && file?.startsWith('/')) images.push({ path: file, writable: node.get('read-only') !== 'on' && node.get('read-only') !== 'true' });
    } else if (/^-hd[a-d]$/.test(option) && value.startsWith('/')) {
      images.push({ path: value, writable: true });
    } else if (option === '-cdrom' && value.startsWith('/')) {
      images.push({ path: value, writable: false });
    }
  }
  return images;
}

/** QEMU's `key=value,key=value` (a doubled comma is a comma in a value). */
function keyValues(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of text.replace(/,,/g, '\0').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1).replace(/\0/g, ','));
  }
  return fields;
}

/** A -blockdev JSON object's scalar fields (nested `file` nodes flattened). */
function jsonFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  try {
    let node: unknown = JSON.parse(text);
    while (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      for (const [key, value] of Object.entries(record)) if (typeof value !== 'object') fields.set(key, String(value));
      if (record['driver'] === 'file') break;
      node = record['file'];
      if (node && typeof node === 'object') fields.clear();
    }
  } catch {
    // not JSON after all: no image read from it
  }
  return fields;
}
