#!/usr/bin/env node
// Builds what `npm pack` ships: dist/ from tsconfig.build.json, plus the
// non-TypeScript files the modules read at run time. tsc rewrites
// `.ts` to `.js` in emitted JavaScript (rewriteRelativeImportExtensions), but
// not in declarations, where `import type … from './x.ts'` would point at a
// file the package does not ship; those are rewritten here.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FINGERPRINT_FILE, sourceFingerprint } from './source-fingerprint.mjs';
import { copyRuntimeFiles } from './transpiled-sources.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
// Taken before compiling: a source changed while tsc runs leaves a fingerprint that no longer matches.
const fingerprint = sourceFingerprint(root);
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

copyRuntimeFiles(root, dist);

const relativeTsImport = /((?:from|import)\s*\(?\s*['"])(\.\.?\/[^'"]+)\.ts(['"])/g;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const file = join(entry.parentPath ?? entry.path, entry.name); // parentPath from Node 20.12
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(relativeTsImport, '$1$2.js$3');
  if (fixed !== text) writeFileSync(file, fixed);
}

// A checkout's bin/ferry.mjs runs this dist/ while the sources still match it (see source-fingerprint.mjs).
writeFileSync(join(root, FINGERPRINT_FILE), `${fingerprint}\n`);
