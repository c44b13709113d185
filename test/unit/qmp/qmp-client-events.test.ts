import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError } from '../../../sdk/ferry-error.ts';
import { QmpClient } from '../../../sdk/qmp/qmp-client.ts';
import { QmpDisconnectedError, QmpTimeoutError } from '../../../sdk/qmp/qmp-errors.ts';
import type { MigrationStatus } from '../../../sdk/qmp/qmp-types.ts';
import { FakeQmpServer } from '../../fakes/fake-qmp-server.ts';

async function connected(server = new FakeQmpServer()) {
  const client = await QmpClient.connect(server.connectPair(), { label: 'a/web' });
  return { server, client };
}

describe('QmpClient events', () => {
  it('delivers typed events to listeners by filter, each with its own queue', async () => {
    const { client, server } = await connected();
    const migration = client.events('MIGRATION');
    const runState = client.events(['STOP', 'RESUME']);
    const everything = client.events();
    server.emitEvent('MIGRATION', { status: 'active' });
    await client.execute('stop');
    server.emitEvent('MIGRATION', { status: 'completed' });
    await client.execute('cont');
    await client.execute('query-status'); // events sent before this reply have arrived

    const statuses: MigrationStatus[] = [];
    for (let i = 0; i < 2; i++) {
      const { value } = await migration.next();
      if (value) statuses.push(value.data.status);
    }
    assert.deepEqual(statuses, ['active', 'completed']);
    assert.equal(runState.size, 2);
    assert.equal(everything.size, 4);
    await client.close();
  });

  it('routes events interleaved with replies', async () => {
    const server = new FakeQmpServer().handle('migrate', (_args, { session }) => {
      session.emitEvent('MIGRATION', { status: 'setup' });
      session.emitEvent('MIGRATION_PASS', { pass: 1 });
      return {};
    });
    const { client } = await connected(server);
    const passes = client.events('MIGRATION_PASS');
    const setup = client.waitForEvent('MIGRATION');
    assert.deepEqual(await client.execute('migrate', { uri: 'tcp:b:4444' }), {});
    assert.deepEqual((await setup).data, { status: 'setup' });
    assert.equal((await passes.next()).value?.data.pass, 1);
    await client.close();
  });

  it('an unsubscribed listener gets nothing more', async () => {
    const { client, server } = await connected();
    const listener = client.events('STOP');
    listener.close();
    server.emitEvent('STOP');
    await client.execute('query-status');
    assert.equal(listener.size, 0);
    await client.close();
  });

  it('iteration ends when the connection drops', async () => {
    const { client, server } = await connected();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const event of client.events()) seen.push(event.event);
    })();
    server.emitEvent('STOP');
    await client.execute('query-status');
    server.session.drop();
    await loop;
    assert.deepEqual(seen, ['STOP']);
  });

  it('waitForEvent resolves with the first match', async () => {
    const { client } = await connected();
    const stopped = client.waitForEvent('STOP', { timeoutMs: 1000 });
    await client.execute('stop');
    assert.equal((await stopped).event, 'STOP');
    await client.close();
  });

  it('waitForEvent times out, is cancellable, and fails on disconnect', async () => {
    const { client, server } = await connected();
    await assert.rejects(client.waitForEvent('RESUME', { timeoutMs: 10 }), (error: unknown) =>
      error instanceof QmpTimeoutError && error.message === 'a/web: no event RESUME within 10ms',
    );
    await assert.rejects(client.waitForEvent('RESUME', { signal: AbortSignal.abort() }), AbortedError);
    const waiting = client.waitForEvent(['SHUTDOWN', 'RESET']);
    server.session.drop();
    await assert.rejects(waiting, (error: unknown) =>
      error instanceof QmpDisconnectedError &&
      error.message === 'a/web: QMP connection closed while waiting for event SHUTDOWN or RESET: QEMU closed the connection',
    );
  });

  it('the SHUTDOWN sent just before QEMU exits can still be read', async () => {
    const { client } = await connected();
    const shutdown = client.events('SHUTDOWN');
    await client.execute('quit');
    await client.closed;
    assert.deepEqual((await shutdown.next()).value?.data, { guest: false, reason: 'host-qmp-quit' });
    assert.equal((await shutdown.next()).done, true);
  });
});
