import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveDirtyRate } from '../../../sdk/migration/live-dirty-rate.ts';
import type { QmpClient } from '../../../sdk/qmp/index.ts';

/** A stand-in for the source's QMP connection: records commands, answers query-dirty-rate as told. */
function fakeQmp(status: () => 'measuring' | 'measured', fail = false): { qmp: Pick<QmpClient, 'execute'>; calls: string[] } {
  const calls: string[] = [];
  const execute = (async (command: string) => {
    calls.push(command);
    if (fail) throw new Error('The command calc-dirty-rate has not been found');
    if (command === 'query-dirty-rate') return { status: status(), 'dirty-rate': 24 };
    return {};
  }) as unknown as QmpClient['execute'];
  return { qmp: { execute }, calls };
}

describe('live dirty rate', () => {
  test('one measure a pass: starts, waits a second, reads MiB/s as bytes/s, and starts again only in a new pass', async () => {
    const { qmp, calls } = fakeQmp(() => 'measured');
    const live = new LiveDirtyRate(qmp);
    assert.equal(await live.look(1, 0), undefined);
    assert.equal(await live.look(1, 500), undefined, 'not before the second is up');
    assert.equal(await live.look(1, 1100), 24 * 1024 ** 2);
    assert.equal(await live.look(1, 1200), undefined, 'pass 1 has its measure');
    await live.look(2, 1300);
    assert.deepEqual(calls, ['calc-dirty-rate', 'query-dirty-rate', 'calc-dirty-rate']);
  });
  test('a QEMU without calc-dirty-rate, or one that never finishes, turns it off quietly', async () => {
    const broken = fakeQmp(() => 'measured', true);
    const live = new LiveDirtyRate(broken.qmp);
    assert.equal(await live.look(1, 0), undefined);
    assert.equal(await live.look(2, 5000), undefined);
    assert.deepEqual(broken.calls, ['calc-dirty-rate']);
    const stuck = fakeQmp(() => 'measuring');
    const slow = new LiveDirtyRate(stuck.qmp);
    await slow.look(1, 0);
    assert.equal(await slow.look(1, 6000), undefined);
    assert.equal(await slow.look(2, 7000), undefined);
    assert.deepEqual(stuck.calls, ['calc-dirty-rate', 'query-dirty-rate']);
  });
});
