const UNITS: Record<string, number> = {
  b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/**
 * Bytes per second from a number or a string such as `'64MiB/s'`,
 * `'1.5 GB/s'`, `'800Mbit/s'`. Returns undefined when it cannot be read.
 */
export function parseBandwidth(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?)(b|bit|byte|bytes)?\s*(?:\/\s*s|ps)?\s*$/i.exec(value);
  if (!match) return undefined;
  const [, amount, prefix = '', unit = ''] = match;
  const key = prefix.toLowerCase();
  const scale = key === '' ? 1 : UNITS[key.endsWith('i') ? `${key}b` : key];
  if (scale === undefined) return undefined;
  // A lower-case b means bits, as in network speeds (Mb/s); B means bytes.
  const bits = unit === 'bit' || unit === 'b';
  const bytes = Number(amount) * scale / (bits ? 8 : 1);
  return bytes > 0 ? bytes : undefined;
}

/** `1536` → `'1.5 KiB'`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
