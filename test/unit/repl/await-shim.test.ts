import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awaitBody, evalWithAwait, probeTopLevelAwait } from '../../../repl/await-shim.ts';

const globals = globalThis as Record<string, unknown>;

test('code without await is left to the REPL', () => {
  assert.equal(awaitBody('1 + 1'), undefined);
});

test('an awaited expression gives its value; declarations become globals the next line can use', async () => {
  assert.equal(await evalWithAwait('await Promise.resolve(41) + 1'), 42);
  await evalWithAwait('const shimmed = await Promise.resolve({ n: 7 })');
  assert.deepEqual(globals['shimmed'], { n: 7 });
  await evalWithAwait('let { n: shimN } = await Promise.resolve({ n: 8 });');
  assert.equal(globals['shimN'], 8);
  assert.equal(await evalWithAwait('const twice = await Promise.resolve(2)\ntwice * 21'), 42);
  await assert.rejects(evalWithAwait('await Promise.reject(new Error("no"))'), /no/);
  for (const name of ['shimmed', 'shimN', 'twice']) delete globals[name];
});

test('the probe tells a REPL with top-level await from one without', async () => {
  assert.equal(await probeTopLevelAwait((_code, callback) => callback(null, 42)), true);
  assert.equal(await probeTopLevelAwait((_code, callback) => callback(new SyntaxError('await is only valid in async functions'), undefined)), false);
  assert.equal(await probeTopLevelAwait(() => { throw new Error('boom'); }), false);
});
