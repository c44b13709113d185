import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortedError, FerryError, throwIfAborted } from '../../sdk/ferry-error.ts';

class SampleError extends FerryError {
  readonly vmState = 'running-on-source';
  constructor() {
    super('SAMPLE', 'sample failed', { cause: new FerryError('INNER', 'inner failed') });
  }
}

test('errors carry a stable code, their class name and structured fields in JSON', () => {
  const json = new SampleError().toJSON();
  assert.equal(json['name'], 'SampleError');
  assert.equal(json['code'], 'SAMPLE');
  assert.equal(json['vmState'], 'running-on-source');
  assert.deepEqual(json['cause'], { name: 'FerryError', code: 'INNER', message: 'inner failed' });
  assert.equal('stack' in json, false);
});

test('throwIfAborted turns an aborted signal into an AbortedError with the reason', () => {
  assert.doesNotThrow(() => throwIfAborted(undefined));
  assert.doesNotThrow(() => throwIfAborted(new AbortController().signal));
  assert.throws(() => throwIfAborted(AbortSignal.abort('operator said stop')), (error: unknown) => error instanceof AbortedError && /operator said stop/.test(error.message));
});
