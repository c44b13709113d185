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
} else if (!throughTsx && (await import('../scripts/source-fingerprint.mjs')).cliEntryFor(root) === 'dist') {
  cli = await import('../dist/cli/main.js');
} else {
  const transpiled = throughTsx ? undefined : await (await import('../scripts/transpiled-sources.mjs')).transpiledCli(root);
  if (transpiled) {
    cli = await import(pathToFileURL(transpiled).href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    cli = await import(sources.href);
  }
}
process.exitCode = await cli.main(args);

/** `ferry run FILE.ts` loads the caller's TypeScript, which only tsx lets Node 20 do. */
function runsTypeScriptRecipe(argv) {
  return argv[0] === 'run' && argv.slice(1).some((arg) => /\.[cm]?ts$/.test(arg));
}
