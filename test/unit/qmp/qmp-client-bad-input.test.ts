import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QmpClient } from '../../../sdk/qmp/qmp-client.ts';
import type { QmpConnectOptions } from '../../../sdk/qmp/qmp-client.ts';
import { QmpDisconnectedError, QmpProtocolError } from '../../../sdk/qmp/qmp-errors.ts';
import { FakeQmpServer } from '../../fakes/fake-qmp-server.ts';

// What QEMU (or something pretending to be it) might send that is not QMP.
// The rule, as in qmp_client.py: what can be routed is survived and
// reported; what breaks the stream's framing closes the connection.

async function connected(server = new FakeQmpServer(), options: QmpConnectOptions = {}) {
  const reported: QmpProtocolError[] = [];
  const client = await QmpClient.connect(server.connectPair(), {
    label: 'a/web',
    onProtocolError: (error) => reported.push(error),
    ...options,
  });
  return { server, client, reported };
}

const hang = (): Promise<never> => new Promise(() => {});

describe('QmpClient with bad input', () => {
  it('malformed JSON closes the connection; pending commands say why', async () => {
    const server = new FakeQmpServer().handle('query-migrate', hang);
    const { client, reported } = await connected(server);
    const pending = client.execute('query-migrate');
    await new Promise((resolve) => setImmediate(resolve));
    server.session.sendRaw('{"return": {}, "id": \r\n');
    await assert.rejects(pending, (error: unknown) => {
      assert.ok(error instanceof QmpDisconnectedError);
      assert.match(error.message, /waiting for the reply to "query-migrate": a\/web: QMP protocol error: malformed JSON/);
      assert.ok(error.cause instanceof QmpProtocolError);
      return true;
    });
    await client.closed;
    assert.equal(reported.length, 1);
    assert.match(client.closeReason ?? '', /malformed JSON/);
  });

  it('a reply to an unknown id is dropped and reported; the connection lives on', async () => {
    const { client, server, reported } = await connected();
    server.session.send({ return: {}, id: 9999 });
    server.session.send({ return: {} });
    assert.equal((await client.execute('query-status')).running, true);
    assert.deepEqual(
      reported.map((e) => e.problem),
      ['reply to unknown id 9999, dropped', 'reply to unknown id undefined, dropped'],
    );
    assert.equal(client.state, 'running');
    await client.close();
  });

  it('an error without an id closes the connection (QEMU could not parse what we sent)', async () => {
    const server = new FakeQmpServer().handle('query-migrate', hang);
    const { client } = await connected(server);
    const pending = client.execute('query-migrate');
    server.session.send({ error: { class: 'GenericError', desc: 'JSON parse error, invalid keyword' } });
    await assert.rejects(pending, /error reply without an id/);
    await client.closed;
  });

  it('a reply with neither return nor error fails that command only', async () => {
    const server = new FakeQmpServer().handle('query-migrate', (_args, { session, id }) => {
      session.send({ id, surprise: true });
      return hang();
    });
    const { client } = await connected(server);
    await assert.rejects(client.execute('query-migrate'), (error: unknown) =>
      error instanceof QmpProtocolError &&
      error.sent === '"query-migrate"' &&
      /reply has neither "return" nor "error" in reply to "query-migrate"; received: \{"id":2,"surprise":true\}/.test(error.message),
    );
    assert.equal(client.state, 'running');
    await client.close();
  });

  it('an endless line without newline is bounded, then closes the connection', async () => {
    const { client, server, reported } = await connected(undefined, { maxLineBytes: 4096 });
    for (let i = 0; i < 10; i++) server.session.sendRaw('x'.repeat(1000));
    await client.closed;
    assert.match(reported[0]?.message ?? '', /a line exceeded 4096 bytes without a newline/);
  });

  it('non-object JSON, a nameless event and a second greeting are survivable or fatal as appropriate', async () => {
    const { client, server, reported } = await connected();
    server.session.send({ event: 42, timestamp: {} });
    server.session.send({ QMP: { version: {}, capabilities: [] } });
    await client.execute('query-status');
    assert.deepEqual(
      reported.map((e) => e.problem),
      ['event name is not a string, dropped', 'unexpected second greeting, dropped'],
    );
    server.session.sendRaw('[1, 2, 3]\r\n');
    await client.closed;
    assert.match(reported[2]?.message ?? '', /expected a JSON object/);
  });

  it('a throwing onProtocolError hook does not take the client down', async () => {
    const { client, server } = await connected(undefined, {
      onProtocolError: () => {
        throw new Error('bad hook');
      },
    });
    server.session.send({ return: {}, id: 12345 });
    assert.equal((await client.execute('query-status')).running, true);
    await client.close();
  });
});
