// What dist/ was built from, so that a checkout's CLI can run the compiled
// dist/ while it still matches the sources: through tsx, Node spends some
// 350–450 ms more at every start transforming about 190 TypeScript modules
// (bench/migrate.ts). Any edit, added or removed file, or branch switch
// changes the fingerprint, and the CLI then runs the sources again,
// transpiled into a cache under the same fingerprint (transpiled-sources.mjs).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The folders `npm run build` compiles or copies, and the files that steer it. */
export const SOURCE_FOLDERS = ['sdk', 'cli', 'repl', 'recipes'];
const SOURCE_FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs', 'scripts/transpiled-sources.mjs'];

/** Where the build keeps the fingerprint of the sources it compiled. */
export const FINGERPRINT_FILE = 'dist/.source-fingerprint';

/** Every source's path, size and modification time, hashed (a few ms for ~200 files). */
export function sourceFingerprint(root) {
  const lines = [];
  const add = (file) => {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat?.isFile()) lines.push(`${relative(root, file)}\t${stat.size}\t${stat.mtimeMs}`);
  };
  for (const folder of SOURCE_FOLDERS) {
    if (!existsSync(join(root, folder))) continue;
    for (const entry of readdirSync(join(root, folder), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) add(join(entry.parentPath ?? entry.path, entry.name)); // parentPath from Node 20.12
    }
  }
  for (const file of SOURCE_FILES) add(join(root, file));
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}

/** 'dist' when dist/ was built from the sources as they are now, otherwise 'sources'. */
export function cliEntryFor(root) {
  const recorded = existsSync(join(root, FINGERPRINT_FILE)) ? readFileSync(join(root, FINGERPRINT_FILE), 'utf8').trim() : '';
  return recorded !== '' && existsSync(join(root, 'dist/cli/main.js')) && recorded === sourceFingerprint(root) ? 'dist' : 'sources';
}
