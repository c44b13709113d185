#!/usr/bin/env node
// ferry's command line. Node needs tsx to load the TypeScript sources;
// Deno and Bun run them as they are (`deno run -A cli/main.ts`, `bun cli/main.ts`).
if (!('Deno' in globalThis) && !('Bun' in globalThis)) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import('../cli/main.ts');
