import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QmpClient } from '../../../sdk/qmp/qmp-client.ts';
import { QmpTimeoutError } from '../../../sdk/qmp/qmp-errors.ts';
import { FakeQmpServer } from '../../fakes/fake-qmp-server.ts';

// The same client over a real UNIX socket, as ferry reaches a local QEMU.

async function dial(path: string): Promise<net.Socket> {
  const socket = net.createConnection(path);
  await once(socket, 'connect');
  return socket;
}

// Socket handles (client and the fake's side) and timers.
const handles = (): string[] =>
  process.getActiveResourcesInfo().filter((name) => name === 'PipeWrap' || name === 'Timeout');

describe('QmpClient over a UNIX socket', () => {
  let dir = '';
  let path = '';
  let server: FakeQmpServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-qmp-'));
    path = join(dir, 'web.qmp');
    server = new FakeQmpServer();
    await server.listen(path);
  });

  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('connects, runs commands, receives events and closes without leaking handles', async () => {
    const baseline = handles();
    const client = await QmpClient.connect(await dial(path), { label: 'a/web' });
    const session = server.session;
    assert.equal(client.greeting.QMP.version.qemu.major, 7);
    const stopped = client.waitForEvent('STOP', { timeoutMs: 2000 });
    await client.execute('stop');
    await stopped;
    assert.equal((await client.execute('query-status')).status, 'paused');
    await client.execute('cont');
    await client.close();
    await session.closed;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(handles(), baseline);
  });

  it('like QEMU, serves one client at a time: the second gets no greeting', async () => {
    const first = await QmpClient.connect(await dial(path));
    await assert.rejects(QmpClient.connect(await dial(path), { timeoutMs: 100, label: 'a/web' }), (error: unknown) =>
      error instanceof QmpTimeoutError &&
      error.message === 'a/web: no QMP greeting within 100ms (is another client connected to this socket?)',
    );
    await first.close();
    // Once the first client leaves, a new one is served.
    const third = await QmpClient.connect(await dial(path), { timeoutMs: 2000 });
    assert.equal((await third.execute('query-status')).running, true);
    await third.close();
  });

  it('quit over a socket resolves and the connection closes', async () => {
    const client = await QmpClient.connect(await dial(path));
    assert.deepEqual(await client.execute('quit'), {});
    await client.closed;
    assert.equal(client.state, 'closed');
  });
});
