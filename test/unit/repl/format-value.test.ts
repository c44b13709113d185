import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configure, UnknownHostError, type MigrationResult } from '../../../sdk/index.ts';
import { formatError, formatValue } from '../../../repl/format-value.ts';

const result: MigrationResult = {
  status: 'completed', id: 'x', vm: 'web', source: 'a', destination: 'b', wallTimeMs: 12_345, destinationStartMs: 400, totalTimeMs: 11_000,
  setupTimeMs: 10, downtimeMs: 45, transferredBytes: 600 * 1024 ** 2, downtimeBytes: 2 * 1024 ** 2, passes: 5, throughput: 8 * 1024 ** 2, postcopy: false,
  options: { maxDowntime: 300, bandwidth: 'unlimited', timeout: 'auto', onTimeout: 'cancel', autoConverge: false, xbzrle: false, multifd: false, postcopy: false, policy: 'ferry', allowPause: false, heavyThrottleLimit: 60000, switchoverCost: 50, switchoverGate: 'source', stallTimeout: 15000, storage: { mode: 'auto', disks: {} }, guestCheckMs: 2000, tls: false, dryRun: false },
  phases: {},
};

test('a MigrationResult prints as a short table, not a raw object', () => {
  const text = formatValue(result);
  assert.equal(text.split('\n')[0], 'a/web → b  completed');
  assert.match(text, /wall time +12\.3 s +destination start 400 ms, transfer 11\.0 s/);
  assert.match(text, /downtime +45 ms +limit 300 ms/);
  assert.match(text, /transferred +600\.0 MiB +5 passes at 8\.0 MiB\/s/);
  assert.doesNotMatch(text, /[{}]/);
  const over = formatValue({ ...result, downtimeMs: 997, downtimeOverrun: { byMs: 697, reason: 'QEMU paused the guest 997 ms' } });
  assert.match(over, /downtime +997 ms +limit 300 ms, OVER BUDGET by 697 ms/);
});

test('VM lists print as a table; other values as inspect does', () => {
  const text = formatValue([{ host: 'a', name: 'web', pid: 12, process: 'running', migrating: true, state: 'running, migrating' }]);
  assert.match(text, /^HOST +VM +PID +STATE\na +web +12 +running, migrating$/);
  assert.equal(formatValue({ x: 1 }), '{ x: 1 }');
  assert.equal(formatValue([]), '[]');
});

test('errors are one line', () => {
  configure({ hosts: { a: { local: true } } });
  const error = new UnknownHostError('zz', ['a']);
  assert.equal(formatValue(error), "UnknownHostError: unknown host 'zz'; configured hosts: a");
  assert.equal(formatValue(new TypeError('x is not a function')), 'TypeError: x is not a function');
  assert.equal(formatError(error), "ferry: unknown host 'zz'; configured hosts: a");
  assert.equal(formatError(new Error('first\nsecond')), 'ferry: first');
});
