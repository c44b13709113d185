#!/usr/bin/env node
// ferry's command line. It imports main and calls it, so it runs the same
// through any link (npm's .bin, npx, a global install, pnpm).
// An installed package runs the compiled dist/. In a checkout, Node runs
// dist/ while `npm run build` made it from the sources as they are now
// (scripts/source-fingerprint.mjs), and the TypeScript sources through tsx
// otherwise, when a recipe file in TypeScript is to be run, or with
// FERRY_FROM_SOURCES=1; Deno and Bun run the sources as they are.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sources = new URL('../cli/main.ts', import.meta.url);
const args = process.argv.slice(2);
let cli;
if (!existsSync(sources)) {
  cli = await import('../dist/cli/main.js');
} else if ('Deno' in globalThis || 'Bun' in globalThis) {
  cli = await import(sources.href);
} else if (process.env.FERRY_FROM_SOURCES !== '1' && !runsTypeScriptRecipe(args) && (await import('../scripts/source-fingerprint.mjs')).cliEntryFor(fileURLToPath(new URL('..', import.meta.url))) === 'dist') {
  cli = await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
}
process.exitCode = await cli.main(args);

/** `ferry run FILE.ts` loads the caller's TypeScript, which only tsx lets Node 20 do. */
function runsTypeScriptRecipe(argv) {
  return argv[0] === 'run' && argv.slice(1).some((arg) => /\.[cm]?ts$/.test(arg));
}
