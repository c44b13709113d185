// A checkout's bin/ferry.mjs runs dist/ only while it was built from the sources as they are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEntryFor, FINGERPRINT_FILE, sourceFingerprint } from '../../../scripts/source-fingerprint.mjs';

function checkout(): string {
  const root = mkdtempSync(join(tmpdir(), 'ferry-fingerprint-'));
  for (const dir of ['sdk/qmp', 'cli', 'dist/cli']) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, 'sdk/qmp/client.ts'), 'export const a = 1;\n');
  writeFileSync(join(root, 'cli/main.ts'), 'export function main() { return 0; }\n');
  writeFileSync(join(root, 'package.json'), '{}\n');
  writeFileSync(join(root, 'dist/cli/main.js'), 'export function main() { return 0; }\n');
  return root;
}

const built = (root: string) => writeFileSync(join(root, FINGERPRINT_FILE), `${sourceFingerprint(root)}\n`);

test('dist/ built from the sources as they are is what the checkout runs', (t) => {
  const root = checkout();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(cliEntryFor(root), 'sources', 'never built');
  built(root);
  assert.equal(cliEntryFor(root), 'dist');
});

test('an edit, a new file, a removed file or a touched one sends the checkout back to the sources', (t) => {
  const root = checkout();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const steps: Array<[string, () => void]> = [
    ['an edit', () => writeFileSync(join(root, 'sdk/qmp/client.ts'), 'export const a = 2;\n')],
    ['a new file', () => writeFileSync(join(root, 'cli/extra.ts'), '\n')],
    ['a removed file', () => rmSync(join(root, 'cli/extra.ts'))],
    ['a file touched (a branch switch)', () => utimesSync(join(root, 'cli/main.ts'), new Date(), new Date(Date.now() + 5000))],
    ['package.json changed', () => writeFileSync(join(root, 'package.json'), '{"type":"module"}\n')],
  ];
  for (const [what, change] of steps) {
    built(root);
    assert.equal(cliEntryFor(root), 'dist');
    change();
    assert.equal(cliEntryFor(root), 'sources', what);
  }
});

test('a fingerprint without the compiled CLI beside it is not trusted', (t) => {
  const root = checkout();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  built(root);
  rmSync(join(root, 'dist/cli/main.js'));
  assert.equal(cliEntryFor(root), 'sources');
});
