#!/usr/bin/env node
// ferry's command line. It imports main and calls it, so it runs the same
// through any link (npm's .bin, npx, a global install, pnpm).
// In a checkout it runs the TypeScript sources (Node through tsx; Deno and Bun
// as they are); an installed package runs the compiled dist/.
import { existsSync } from 'node:fs';

const sources = new URL('../cli/main.ts', import.meta.url);
let cli;
if (existsSync(sources)) {
  if (!('Deno' in globalThis) && !('Bun' in globalThis)) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  cli = await import(sources.href);
} else {
  cli = await import('../dist/cli/main.js');
}
process.exitCode = await cli.main(process.argv.slice(2));
