// A checkout whose sources changed since `npm run build` runs them
// transpiled once into a cache, not through tsx at every start: tsx hooks
// Node's loader and transforms each of ~190 modules on every run, while
// esbuild transpiles them all in one call (about 120 ms here, once per
// change) and Node then loads plain JavaScript, as from dist/ (bench/migrate.ts,
// a cold `ferry migrate`, medians of 5: 852 ms through tsx, 694 ms from the
// cache). Type-checking is tsc's (npm run typecheck), as with tsx.
//
// The cache mirrors dist/'s layout (cli/, sdk/, repl/, recipes/, a copy of
// package.json), so that code finding files beside itself (the recipes, the
// version) finds them as in the built package. It lives in
// node_modules/.cache/ferry/<fingerprint>/ and is made in a temporary folder
// renamed into place, so two CLIs started at once never see half of it; a
// copy is removed once a newer one is made and it has gone unused for ten
// minutes.
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { sourceFiles, sourceFingerprint } from './source-fingerprint.mjs';

/** Where the transpiled sources are kept, one folder per fingerprint. */
export const CACHE_DIR = 'node_modules/.cache/ferry';

/**
 * The transpiled CLI entry (cli/main.js) for the sources as they are now,
 * transpiling them first when the cache has none; undefined when that cannot
 * be done (no esbuild, a cache it may not write): the caller then runs the
 * sources through tsx.
 */
export async function transpiledCli(root, fingerprint = sourceFingerprint(root)) {
  const cache = join(root, CACHE_DIR);
  const target = join(cache, fingerprint);
  const main = join(target, 'cli/main.js');
  if (existsSync(main)) {
    markUsed(target);
    return main;
  }
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    return undefined;
  }
  const staging = `${target}.${process.pid}-${randomUUID().slice(0, 8)}.tmp`;
  try {
    await transpile(esbuild, root, staging);
    renameSync(staging, target);
  } catch {
    // Another CLI got there first with the same sources (use its copy), or the cache cannot be written.
    removeQuietly(staging);
    if (!existsSync(main)) return undefined;
  }
  removeStale(cache, fingerprint);
  return main;
}

function removeQuietly(path) {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // nothing there to remove, or not ours to remove: the run goes on either way
  }
}

/** A copy is kept while CLIs start from it: one in use during the last STALE_AFTER_MS is not removed under them. */
function markUsed(target) {
  try {
    const now = new Date();
    utimesSync(target, now, now);
  } catch {
    // a copy we may not touch is still one we can run
  }
}

/**
 * How long after its last use another fingerprint's copy is kept: a CLI loads its modules in its first moments
 * (a recipe too, before any schedule), but another checkout sharing node_modules, or a CLI of the sources before
 * an edit, may be starting from it right now.
 */
const STALE_AFTER_MS = 10 * 60_000;

/** Other fingerprints' copies unused for STALE_AFTER_MS, and staging folders an hour old (a killed CLI's). */
function removeStale(cache, fingerprint) {
  for (const entry of readdirSync(cache)) {
    if (entry === fingerprint) continue;
    const path = join(cache, entry);
    const age = Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > (entry.endsWith('.tmp') ? 3_600_000 : STALE_AFTER_MS)) removeQuietly(path);
  }
}

/** Every TypeScript module of SOURCE_FOLDERS (not tests) transpiled to `out`, relative `.ts` imports made `.js`. */
async function transpile(esbuild, root, out) {
  const files = sourceFiles(root);
  await esbuild.build({
    entryPoints: files.filter((file) => file.endsWith('.ts') && !/\.(test|d)\.ts$/.test(file)),
    outdir: out,
    outbase: root,
    // bundle only so that every import passes through the plugin, which keeps each one external: one output file per module.
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
    plugins: [{
      name: 'ferry-keep-modules',
      setup(build) {
        build.onResolve({ filter: /.*/ }, (args) => args.kind === 'entry-point' ? undefined : { path: relativeJs(args.path), external: true });
      },
    }],
  });
  copyRuntimeFiles(root, out, files);
  copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
}

/**
 * The files the modules read at run time beside themselves (none today: the
 * guard is a TS string) go next to their compiled modules, in dist/ as in the
 * cache; TypeScript and the folders' READMEs do not.
 */
export function copyRuntimeFiles(root, out, files = sourceFiles(root)) {
  for (const from of files) {
    if (/\.(ts|md)$/.test(from)) continue;
    const to = join(out, relative(root, from));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
  }
}

/** `./x.ts` → `./x.js` for relative imports; packages and `node:` modules as they are. */
function relativeJs(specifier) {
  return /^\.\.?\//.test(specifier) ? specifier.replace(/\.ts$/, '.js') : specifier;
}
