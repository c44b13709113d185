import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError } from '../../../sdk/ferry-error.ts';
import { raceAbort } from '../../../sdk/transport/abort-race.ts';
import { SessionLimit } from '../../../sdk/transport/session-limit.ts';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SessionLimit', () => {
  it('serves waiters in order as sessions are released', async () => {
    const limit = new SessionLimit(2);
    const first = await limit.acquire();
    const second = await limit.acquire();
    const order: number[] = [];
    const third = limit.acquire().then((release) => (order.push(3), release));
    const fourth = limit.acquire().then((release) => (order.push(4), release));
    await tick();
    assert.deepEqual(order, []);
    first();
    first(); // twice is harmless
    await tick();
    assert.deepEqual(order, [3]);
    second();
    await tick();
    assert.deepEqual(order, [3, 4]);
    (await third)();
    (await fourth)();
    assert.equal(limit.active, 0);
  });

  it('lets an aborted waiter leave the queue', async () => {
    const limit = new SessionLimit(1);
    const held = await limit.acquire();
    const controller = new AbortController();
    const waiting = limit.acquire([{ signal: controller.signal }]);
    controller.abort();
    await assert.rejects(waiting, AbortedError);
    held();
    assert.equal(limit.active, 0);
  });

  it('shrinks below the sessions open now when the server refuses one', async () => {
    const limit = new SessionLimit(8);
    const releases = await Promise.all([limit.acquire(), limit.acquire(), limit.acquire()]);
    limit.shrink(); // 3 open, the 4th was refused: at most 2 from now on
    let fourth = false;
    void limit.acquire().then(() => (fourth = true));
    releases[0]?.();
    await tick();
    assert.equal(fourth, false, 'still 2 open, which is the new limit');
    releases[1]?.();
    await tick();
    assert.equal(fourth, true);
  });
});

describe('raceAbort', () => {
  it('gives the first reason and hands a late value to onLate', async () => {
    let late: string | undefined;
    let deliver: (value: string) => void = () => {};
    const slow = new Promise<string>((resolve) => (deliver = resolve));
    const closing = new AbortController();
    const race = raceAbort(slow, [{ signal: undefined }, { signal: closing.signal, error: () => new Error('closed') }], (value) => (late = value));
    closing.abort();
    await assert.rejects(race, /closed/);
    deliver('channel');
    await tick();
    assert.equal(late, 'channel');
  });
});
