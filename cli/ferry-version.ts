import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * ferry's version, from its package.json: two levels up in the built package
 * (dist/cli/), one in a checkout (cli/), so the nearest one named "ferry" wins.
 *
 * @example
 * ferryVersion() // => '0.1.0'
 */
export function ferryVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 3; level++, dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'ferry' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // no package.json at this level: look one higher
    }
  }
  return 'unknown';
}
