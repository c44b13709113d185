#!/usr/bin/env node
// ferry's command line. It imports main and calls it, so it runs the same
// through any link (npm's .bin, npx, a global install, pnpm).
// An installed package runs the compiled dist/. In a checkout, Node runs
// dist/ while `npm run build` made it from the sources as they are now
// (scripts/source-fingerprint.mjs), and otherwise the sources transpiled
// once into a cache (scripts/transpiled-sources.mjs); through tsx when a
// recipe file in TypeScript is to be run (only tsx lets Node 20 load it),
// with FERRY_FROM_SOURCES=1, or without esbuild. Deno and Bun run the
// sources as they are.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sources = new URL('../cli/main.ts', import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const throughTsx = process.env.FERRY_FROM_SOURCES === '1' || runsTypeScriptRecipe(args);
let cli;
if (!existsSync(sources)) {
  cli = await import('../dist/cli/main.js');
} else if ('Deno' in globalThis || 'Bun' in globalThis) {
  cli = await import(sources.href);
} else {
  cli = await import(await checkoutEntry());
}
process.exitCode = await cli.main(args);

/**
 * A checkout on Node: dist/ while it was built from the sources as they are, else those sources transpiled once
 * into the cache, else (or when asked) the sources through tsx. The sources are read once for both.
 */
async function checkoutEntry() {
  if (!throughTsx) {
    const { cliEntryFor, sourceFingerprint } = await import('../scripts/source-fingerprint.mjs');
    const fingerprint = sourceFingerprint(root);
    if (cliEntryFor(root, fingerprint) === 'dist') return new URL('../dist/cli/main.js', import.meta.url).href;
    const transpiled = await (await import('../scripts/transpiled-sources.mjs')).transpiledCli(root, fingerprint);
    if (transpiled) return pathToFileURL(transpiled).href;
  }
  const { register } = await import('tsx/esm/api');
  register();
  return sources.href;
}

/** `ferry run FILE.ts` loads the caller's TypeScript, which only tsx lets Node 20 do. */
function runsTypeScriptRecipe(argv) {
  return argv[0] === 'run' && argv.slice(1).some((arg) => /\.[cm]?ts$/.test(arg));
}
