import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError } from '../../../sdk/ferry-error.ts';
import { describeFilter, EventListener } from '../../../sdk/qmp/event-listener.ts';
import type { QmpAnyEvent } from '../../../sdk/qmp/qmp-types.ts';

const timestamp = { seconds: 0, microseconds: 0 };
const ev = (event: string, data?: Record<string, unknown>): QmpAnyEvent => ({ event, data, timestamp });

describe('EventListener', () => {
  it('filters by name, by names, by predicate', () => {
    const one = new EventListener('STOP');
    const many = new EventListener(['STOP', 'RESUME']);
    const pred = new EventListener((e) => e.data?.['status'] === 'completed');
    const all = new EventListener(undefined);
    for (const event of [ev('STOP'), ev('RESUME'), ev('MIGRATION', { status: 'completed' }), ev('MIGRATION', { status: 'active' })]) {
      one.deliver(event);
      many.deliver(event);
      pred.deliver(event);
      all.deliver(event);
    }
    assert.deepEqual([one.size, many.size, pred.size, all.size], [1, 2, 1, 4]);
  });

  it('hands queued events out in order, then waits', async () => {
    const listener = new EventListener(undefined);
    listener.deliver(ev('A'));
    listener.deliver(ev('B'));
    assert.equal((await listener.next()).value?.event, 'A');
    assert.equal((await listener.next()).value?.event, 'B');
    const pending = listener.next();
    listener.deliver(ev('C'));
    assert.equal((await pending).value?.event, 'C');
  });

  it('serves concurrent next() calls first come, first served', async () => {
    const listener = new EventListener(undefined);
    const first = listener.next();
    const second = listener.next();
    listener.deliver(ev('A'));
    listener.deliver(ev('B'));
    assert.deepEqual([(await first).value?.event, (await second).value?.event], ['A', 'B']);
  });

  it('drops the oldest events beyond maxQueue and counts them', async () => {
    const listener = new EventListener(undefined, { maxQueue: 3 });
    for (const name of ['1', '2', '3', '4', '5']) listener.deliver(ev(name));
    assert.equal(listener.dropped, 2);
    const names: string[] = [];
    listener.close();
    for await (const event of listener) names.push(event.event);
    assert.deepEqual(names, ['3', '4', '5']);
  });

  it('close() ends a pending next() with done, never a rejection', async () => {
    const listener = new EventListener(undefined);
    const pending = listener.next();
    listener.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.equal(listener.deliver(ev('A')), false, 'a closed listener takes nothing');
    listener.close(); // idempotent
  });

  it('still drains events queued before close', async () => {
    const listener = new EventListener(undefined);
    listener.deliver(ev('SHUTDOWN'));
    listener.close();
    assert.equal((await listener.next()).value?.event, 'SHUTDOWN');
    assert.equal((await listener.next()).done, true);
  });

  it('iterates with for await; break closes and tells the owner', async () => {
    let forgotten = 0;
    const listener = new EventListener('MIGRATION_PASS', {}, () => forgotten++);
    for (const pass of [1, 2, 3]) listener.deliver(ev('MIGRATION_PASS', { pass }));
    const seen: unknown[] = [];
    for await (const event of listener) {
      seen.push(event.data?.['pass']);
      if (seen.length === 2) break;
    }
    assert.deepEqual(seen, [1, 2]);
    assert.equal(listener.closed, true);
    assert.equal(forgotten, 1);
  });

  it('a next() signal rejects only that wait, with AbortedError', async () => {
    const listener = new EventListener(undefined);
    const controller = new AbortController();
    const pending = listener.next({ signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, AbortedError);
    assert.equal(listener.closed, false);
    await assert.rejects(listener.next({ signal: controller.signal }), /stopped waiting for a QMP event/);
    listener.deliver(ev('A'));
    assert.equal((await listener.next()).value?.event, 'A', 'the aborted waiter did not swallow the event');
  });

  it('the listener signal closes it', async () => {
    const controller = new AbortController();
    const listener = new EventListener(undefined, { signal: controller.signal });
    const pending = listener.next();
    controller.abort();
    assert.equal((await pending).done, true);
    assert.equal(new EventListener(undefined, { signal: controller.signal }).closed, true, 'already aborted: born closed');
  });

  it('describes filters for messages', () => {
    assert.equal(describeFilter('STOP'), 'event STOP');
    assert.equal(describeFilter(['STOP', 'RESUME']), 'event STOP or RESUME');
    assert.equal(describeFilter(() => true), 'a matching event');
  });
});
