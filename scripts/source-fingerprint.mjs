// What dist/ was built from, so that a checkout's CLI can run the compiled
// dist/ while it still matches the sources: through tsx, Node transforms
// about 190 TypeScript modules at every start (bench/migrate.ts: 852 ms for a
// cold `ferry migrate` through tsx, 758 ms from dist/, medians of 5; earlier
// runs measured tsx 350–450 ms slower). Any edit, added or removed file, or branch switch
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

/** Every file under SOURCE_FOLDERS (tests and READMEs too), as absolute paths. */
export function sourceFiles(root) {
  const files = [];
  for (const folder of SOURCE_FOLDERS) {
    if (!existsSync(join(root, folder))) continue;
    for (const entry of readdirSync(join(root, folder), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.push(join(entry.parentPath ?? entry.path, entry.name)); // parentPath from Node 20.12
    }
  }
  return files;
}

/** Every source's path, size and modification time, hashed (a few ms for ~200 files). */
export function sourceFingerprint(root) {
  const lines = [];
  for (const file of [...sourceFiles(root), ...SOURCE_FILES.map((name) => join(root, name))]) {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat?.isFile()) lines.push(`${relative(root, file)}\t${stat.size}\t${stat.mtimeMs}`);
  }
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}

/**
 * 'dist' when dist/ was built from the sources as they are now, otherwise 'sources'. A caller that needs the
 * fingerprint too (bin/ferry.mjs, for the transpiled cache) passes it, so the sources are read once per start.
 */
export function cliEntryFor(root, fingerprint = sourceFingerprint(root)) {
  const recorded = existsSync(join(root, FINGERPRINT_FILE)) ? readFileSync(join(root, FINGERPRINT_FILE), 'utf8').trim() : '';
  return recorded !== '' && existsSync(join(root, 'dist/cli/main.js')) && recorded === fingerprint ? 'dist' : 'sources';
}
