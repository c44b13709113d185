// A checkout whose sources changed since the last build runs them transpiled once into a cache, not through tsx.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { CACHE_DIR, transpiledCli } from '../../../scripts/transpiled-sources.mjs';

function checkout(): string {
  const root = mkdtempSync(join(tmpdir(), 'ferry-transpiled-'));
  for (const dir of ['sdk/qmp', 'cli', 'recipes']) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, 'sdk/qmp/client.ts'), "import { join } from 'node:path';\nexport interface Answer { value: number }\nexport const answer = (): Answer => ({ value: join('a', 'b').length });\n");
  writeFileSync(join(root, 'sdk/index.ts'), "export { answer } from './qmp/client.ts';\nexport type { Answer } from './qmp/client.ts';\n");
  writeFileSync(join(root, 'cli/main.ts'), "import { answer } from '../sdk/index.ts';\nexport async function main(args: string[]): Promise<number> {\n  const { recipe } = (await import('../recipes/hello.ts')) as { recipe: string };\n  return answer().value + args.length + recipe.length;\n}\n");
  writeFileSync(join(root, 'cli/main.test.ts'), "throw new Error('tests are not transpiled');\n");
  writeFileSync(join(root, 'cli/README.md'), '# not copied\n');
  writeFileSync(join(root, 'recipes/hello.ts'), "export const recipe: string = 'hi';\n");
  writeFileSync(join(root, 'package.json'), '{"name":"ferry","version":"9.9.9","type":"module"}\n');
  return root;
}

const cacheEntries = (root: string) => readdirSync(join(root, CACHE_DIR)).sort();

test('the sources transpiled once run as plain JavaScript, in dist/\'s layout', async (t) => {
  const root = checkout();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const main = await transpiledCli(root);
  assert.ok(main && existsSync(main), 'cli/main.js in the cache');
  const cli = (await import(pathToFileURL(main).href)) as { main(args: string[]): Promise<number> };
  // join('a','b') is 3 long, one argument, 'hi' 2: static and dynamic imports resolved to the transpiled modules.
  assert.equal(await cli.main(['x']), 6);
  const folder = join(main, '../..');
  assert.equal(JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')).version, '9.9.9', 'package.json beside cli/, as in dist/');
  assert.match(readFileSync(join(folder, 'cli/main.js'), 'utf8'), /from "\.\.\/sdk\/index\.js"/);
  assert.equal(existsSync(join(folder, 'cli/main.test.js')), false, 'no tests');
  assert.equal(existsSync(join(folder, 'cli/README.md')), false, 'no READMEs');
  assert.ok(existsSync(join(folder, 'recipes/hello.js')));
});

test('the cache is kept while the sources stay as they are, and replaced once they change', async (t) => {
  const root = checkout();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const first = await transpiledCli(root);
  assert.ok(first);
  const madeAt = statSync(first).mtimeMs;
  assert.equal(await transpiledCli(root), first, 'same sources, same copy');
  assert.equal(statSync(first).mtimeMs, madeAt, 'not transpiled again');
  writeFileSync(join(root, 'recipes/hello.ts'), "export const recipe: string = 'hello';\n");
  const second = await transpiledCli(root);
  assert.ok(second);
  assert.notEqual(second, first, 'an edit makes a new copy');
  const cli = (await import(pathToFileURL(second).href)) as { main(args: string[]): Promise<number> };
  assert.equal(await cli.main([]), 8, 'the edited recipe');
  const [firstCopy, secondCopy] = [join(first, '../..'), join(second, '../..')].map((path) => path.split('/').at(-1));
  assert.deepEqual(cacheEntries(root), [firstCopy, secondCopy].sort(), 'the old copy kept while a CLI may still be starting from it');
  // Ten minutes unused: the next copy made removes it.
  const longAgo = new Date(Date.now() - 11 * 60_000);
  utimesSync(join(first, '../..'), longAgo, longAgo);
  writeFileSync(join(root, 'recipes/hello.ts'), "export const recipe: string = 'hello!';\n");
  const third = await transpiledCli(root);
  assert.ok(third);
  assert.deepEqual(cacheEntries(root), [secondCopy, join(third, '../..').split('/').at(-1)].sort(), 'the copy unused for ten minutes removed, the recent one kept');
});

test('two CLIs started at once on changed sources both run, from one copy', async (t) => {
  const root = checkout();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const script = `const { transpiledCli } = await import(${JSON.stringify(new URL('../../../scripts/transpiled-sources.mjs', import.meta.url).href)});
const main = await transpiledCli(${JSON.stringify(root)});
const cli = await import('file://' + main);
console.log(main, await cli.main([]));`;
  const run = () => promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]).then(({ stdout }) => stdout.trim());
  const [one, two] = await Promise.all([run(), run()]);
  assert.match(one, /cli\/main\.js 5$/);
  assert.equal(one, two, 'the same copy');
  assert.equal(cacheEntries(root).length, 1, 'no staging folder left behind');
});

test('a cache that cannot be written leaves the sources to tsx (undefined), not an error', async (t) => {
  const root = checkout();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // node_modules/.cache is a file: nothing can be made under it.
  mkdirSync(join(root, 'node_modules'), { recursive: true });
  writeFileSync(join(root, 'node_modules/.cache'), '');
  assert.equal(await transpiledCli(root), undefined);
});
