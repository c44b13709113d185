import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { AbortedError } from '../../../sdk/ferry-error.ts';
import { QmpClient } from '../../../sdk/qmp/qmp-client.ts';
import type { QmpConnectOptions } from '../../../sdk/qmp/qmp-client.ts';
import {
  QmpCommandError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpStateError,
  QmpTimeoutError,
} from '../../../sdk/qmp/qmp-errors.ts';
import { FakeQmpError, FakeQmpServer } from '../../fakes/fake-qmp-server.ts';

async function connected(server = new FakeQmpServer(), options: QmpConnectOptions = {}) {
  const stream = server.connectPair();
  const client = await QmpClient.connect(stream, options);
  return { server, client, stream };
}

/** Resolves once `condition()` holds, checking every turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

describe('QmpClient.execute', () => {
  it('returns the typed reply', async () => {
    const { client } = await connected();
    const status = await client.execute('query-status');
    assert.deepEqual(status, { status: 'running', running: true, singlestep: false });
    assert.equal((await client.execute('query-version')).qemu.minor, 2);
    await client.close();
  });

  it('sends the arguments and rejects with QmpCommandError carrying QEMU’s class and description', async () => {
    const server = new FakeQmpServer().handle('migrate', () => {
      throw new FakeQmpError('GenericError', 'There is a migration process in progress');
    });
    const { client } = await connected(server, { label: 'a/web' });
    await assert.rejects(client.execute('migrate', { uri: 'tcp:10.0.0.2:4444' }), (error: unknown) => {
      assert.ok(error instanceof QmpCommandError);
      assert.equal(error.command, 'migrate');
      assert.deepEqual(error.arguments, { uri: 'tcp:10.0.0.2:4444' });
      assert.equal(error.errorClass, 'GenericError');
      assert.equal(error.description, 'There is a migration process in progress');
      assert.equal(error.label, 'a/web');
      return true;
    });
    assert.deepEqual(server.received.at(-1), { execute: 'migrate', arguments: { uri: 'tcp:10.0.0.2:4444' }, id: 2 });
    await client.close();
  });

  it('executeUnchecked runs commands the map does not type', async () => {
    const server = new FakeQmpServer().handle('x-echo', (args) => args);
    const { client } = await connected(server);
    assert.deepEqual(await client.executeUnchecked('x-echo', { a: 1 }), { a: 1 });
    await assert.rejects(client.executeUnchecked('no-such-command'), (error: unknown) =>
      error instanceof QmpCommandError && error.errorClass === 'CommandNotFound',
    );
    await client.close();
  });

  it('correlates 100 commands in flight answered in reverse order', async () => {
    const answers: Array<() => void> = [];
    const server = new FakeQmpServer().handle('human-monitor-command', (args) => {
      return new Promise((resolve) => answers.push(() => resolve(`did ${String(args['command-line'])}`)));
    });
    const { client } = await connected(server);
    const replies = Array.from({ length: 100 }, (_, i) => client.execute('human-monitor-command', { 'command-line': `cmd ${i}` }));
    await until(() => answers.length === 100);
    for (const answer of answers.reverse()) answer();
    assert.deepEqual(await Promise.all(replies), Array.from({ length: 100 }, (_, i) => `did cmd ${i}`));
    await client.close();
  });

  it('times out, ignores the late reply quietly, and stays usable', async () => {
    let release = (): void => {};
    const server = new FakeQmpServer().handle('query-migrate', () => new Promise((resolve) => (release = () => resolve({}))));
    const protocolErrors: QmpProtocolError[] = [];
    const { client } = await connected(server, { onProtocolError: (error) => protocolErrors.push(error) });
    await assert.rejects(client.execute('query-migrate', undefined, { timeoutMs: 20 }), (error: unknown) =>
      error instanceof QmpTimeoutError && error.command === 'query-migrate' && error.timeoutMs === 20,
    );
    release();
    assert.equal((await client.execute('query-status')).running, true);
    assert.deepEqual(protocolErrors, []);
    await client.close();
  });

  it('an already-aborted signal sends nothing', async () => {
    const { client, server } = await connected();
    await assert.rejects(client.execute('stop', undefined, { signal: AbortSignal.abort() }), AbortedError);
    assert.equal(server.received.some((r) => r.execute === 'stop'), false);
    await client.close();
  });

  it('aborting while waiting rejects with AbortedError and ignores the late reply', async () => {
    let release = (): void => {};
    const server = new FakeQmpServer().handle('query-migrate', () => new Promise((resolve) => (release = () => resolve({}))));
    const protocolErrors: unknown[] = [];
    const { client } = await connected(server, { onProtocolError: (error) => protocolErrors.push(error) });
    const controller = new AbortController();
    const waiting = client.execute('query-migrate', undefined, { signal: controller.signal });
    await until(() => server.received.length === 2);
    controller.abort();
    await assert.rejects(waiting, /stopped waiting for the reply to "query-migrate"/);
    release();
    await client.execute('query-status');
    assert.deepEqual(protocolErrors, []);
    await client.close();
  });

  it('on disconnect every pending command fails once with a QmpDisconnectedError naming it', async () => {
    const server = new FakeQmpServer()
      .handle('query-migrate', () => new Promise(() => {}))
      .handle('query-block-jobs', () => new Promise(() => {}));
    const { client } = await connected(server, { label: 'a/web' });
    const pending = [client.execute('query-migrate'), client.execute('query-block-jobs')];
    await until(() => server.received.length === 3);
    server.session.drop();
    const errors = await Promise.all(pending.map((p) => p.then(() => assert.fail('resolved'), (error: unknown) => error)));
    assert.deepEqual(
      errors.map((e) => (e instanceof QmpDisconnectedError ? e.message : e)),
      [
        'a/web: QMP connection closed while waiting for the reply to "query-migrate": QEMU closed the connection',
        'a/web: QMP connection closed while waiting for the reply to "query-block-jobs": QEMU closed the connection',
      ],
    );
    await client.closed;
    assert.equal(client.state, 'closed');
    assert.equal(client.closeReason, 'QEMU closed the connection');
  });

  it('a stream error fails pending commands with the error as reason', async () => {
    const server = new FakeQmpServer().handle('query-migrate', () => new Promise(() => {}));
    const { client, stream } = await connected(server);
    const pending = client.execute('query-migrate');
    stream.destroy(new Error('ECONNRESET'));
    await assert.rejects(pending, (error: unknown) =>
      error instanceof QmpDisconnectedError && error.reason === 'stream error: ECONNRESET' && error.cause instanceof Error,
    );
    await client.closed;
  });

  it('close() fails pending commands, is idempotent, and resolves closed', async () => {
    const server = new FakeQmpServer().handle('query-migrate', () => new Promise(() => {}));
    const { client, stream } = await connected(server);
    const session = server.session;
    const pending = client.execute('query-migrate');
    const closing = [client.close(), client.close()];
    await assert.rejects(pending, /closed by the client/);
    await Promise.all(closing);
    await client.close();
    await client.closed;
    assert.equal(stream.destroyed, true);
    await session.closed;
  });

  it('quit succeeds whether QEMU replies first or just closes', async () => {
    for (const quit of ['reply-then-close', 'close-without-reply'] as const) {
      const { client } = await connected(new FakeQmpServer({ quit }));
      assert.deepEqual(await client.execute('quit'), {});
      await client.closed;
      assert.equal(client.state, 'closed');
    }
  });

  it('every method refuses to run once closing or closed', async () => {
    const { client } = await connected();
    const closing = client.close();
    assert.equal(client.state, 'disconnecting');
    await assert.rejects(client.execute('query-status'), (error: unknown) =>
      error instanceof QmpStateError && error.method === 'execute' && error.state === 'disconnecting',
    );
    await closing;
    assert.equal(client.state, 'closed');
    await assert.rejects(client.execute('query-status'), { name: 'QmpStateError', method: 'execute', state: 'closed' });
    await assert.rejects(client.executeUnchecked('query-status'), { name: 'QmpStateError', method: 'executeUnchecked' });
    assert.throws(() => client.events('STOP'), { name: 'QmpStateError', method: 'events', state: 'closed' });
    await assert.rejects(client.waitForEvent('STOP'), { name: 'QmpStateError', method: 'events' });
    await client.close(); // still fine
  });

  it('leaves no timers, abort listeners or stream listeners behind', async () => {
    const baseline = activeTimeouts();
    const controller = new AbortController();
    const { client, stream } = await connected();
    for (let i = 0; i < 20; i++) await client.execute('query-status', undefined, { signal: controller.signal });
    await client.execute('query-status', undefined, { timeoutMs: 60_000 });
    const listener = client.events('STOP', { signal: controller.signal });
    await assert.rejects(client.waitForEvent('RESUME', { timeoutMs: 5, signal: controller.signal }), QmpTimeoutError);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1, 'only the open listener’s');
    await client.close();
    assert.equal(listener.closed, true);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    assert.equal(activeTimeouts(), baseline);
    for (const name of ['data', 'end', 'close'] as const) assert.equal(stream.listenerCount(name), 0, name);
  });
});
