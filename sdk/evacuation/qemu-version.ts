/**
 * QEMU versions as `--version` prints them ("QEMU emulator version 10.0.2
 * (Debian …)"). ferry never migrates a VM to an older QEMU (preflight
 * refuses newer → older), so placement compares them too.
 */

/** The `x.y[.z]` of a `qemu-system-* --version` line, or undefined. */
export function qemuVersionFrom(text: string): string | undefined {
  return /version (\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

/**
 * Compares two versions on the components both give: `10.0` and `10.0.2`
 * are equal (a version asked for as `10.0` matches any 10.0.x).
 *
 * @example
 * compareQemuVersions('7.2.22', '10.0.2') // => negative
 */
export function compareQemuVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const diff = (x[i] ?? 0) - (y[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Does `actual` (e.g. 10.0.2) satisfy `expected` (e.g. 10.0)? */
export function qemuVersionMatches(actual: string | undefined, expected: string): boolean {
  return actual !== undefined && compareQemuVersions(actual, expected) === 0;
}
