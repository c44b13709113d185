import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError } from '../../../sdk/ferry-error.ts';
import { QmpClient } from '../../../sdk/qmp/qmp-client.ts';
import { QmpCommandError, QmpDisconnectedError, QmpProtocolError, QmpTimeoutError } from '../../../sdk/qmp/qmp-errors.ts';
import { createDuplexPair, FakeQmpServer } from '../../fakes/fake-qmp-server.ts';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian"}, "capabilities": ["oob"]}}\r\n';

describe('QmpClient.connect', () => {
  it('reads the greeting, negotiates capabilities and is running', async () => {
    const server = new FakeQmpServer();
    const client = await QmpClient.connect(server.connectPair());
    assert.equal(client.state, 'running');
    assert.deepEqual(client.greeting.QMP.version.qemu, { major: 7, minor: 2, micro: 0 });
    assert.deepEqual(client.greeting.QMP.capabilities, ['oob']);
    assert.deepEqual(server.received, [{ execute: 'qmp_capabilities', arguments: {}, id: 1 }]);
    await client.close();
  });

  it('passes enableCapabilities to qmp_capabilities', async () => {
    const server = new FakeQmpServer();
    const client = await QmpClient.connect(server.connectPair(), { enableCapabilities: ['oob'] });
    assert.deepEqual(server.received[0]?.arguments, { enable: ['oob'] });
    await client.close();
  });

  it('fails with QmpCommandError when QEMU refuses the capabilities, and closes the stream', async () => {
    const stream = new FakeQmpServer().connectPair();
    await assert.rejects(
      QmpClient.connect(stream, { enableCapabilities: ['bogus'], label: 'a/web' }),
      (error: unknown) =>
        error instanceof QmpCommandError &&
        error.command === 'qmp_capabilities' &&
        error.errorClass === 'GenericError' &&
        error.message.startsWith('a/web: QMP "qmp_capabilities" {"enable":["bogus"]} failed: GenericError:'),
    );
    assert.equal(stream.destroyed, true);
  });

  it('rejects a first message that is not a QMP greeting', async () => {
    const stream = new FakeQmpServer({ greeting: '{"return": {}}' }).connectPair();
    await assert.rejects(QmpClient.connect(stream), (error: unknown) =>
      error instanceof QmpProtocolError && /expected a QMP greeting.*received: \{"return":\{\}\}/.test(error.message),
    );
    assert.equal(stream.destroyed, true);
  });

  it('rejects a peer that does not speak JSON at all', async () => {
    const stream = new FakeQmpServer({ greeting: 'SSH-2.0-OpenSSH_9.2p1 Debian-2' }).connectPair();
    await assert.rejects(QmpClient.connect(stream), /QMP protocol error: malformed JSON.*received: SSH-2.0-OpenSSH/);
  });

  it('times out without a greeting, hinting at a second client', async () => {
    const stream = new FakeQmpServer({ greeting: false }).connectPair();
    await assert.rejects(QmpClient.connect(stream, { timeoutMs: 30, label: 'a/web' }), (error: unknown) => {
      assert.ok(error instanceof QmpTimeoutError);
      assert.equal(error.message, 'a/web: no QMP greeting within 30ms (is another client connected to this socket?)');
      return true;
    });
    assert.equal(stream.destroyed, true);
  });

  it('times out when qmp_capabilities gets no reply', async () => {
    const [client, server] = createDuplexPair();
    server.write(GREETING); // and never answer
    await assert.rejects(QmpClient.connect(client, { timeoutMs: 30 }), (error: unknown) =>
      error instanceof QmpTimeoutError && error.command === 'qmp_capabilities' && /no reply to "qmp_capabilities" within 30ms/.test(error.message),
    );
  });

  it('fails with QmpDisconnectedError when the stream ends before the greeting', async () => {
    const [client, server] = createDuplexPair();
    const connecting = QmpClient.connect(client);
    server.end();
    await assert.rejects(connecting, (error: unknown) =>
      error instanceof QmpDisconnectedError && /waiting for the QMP greeting: QEMU closed the connection/.test(error.message),
    );
  });

  it('honours an AbortSignal aborted before and during the handshake', async () => {
    await assert.rejects(QmpClient.connect(createDuplexPair()[0], { signal: AbortSignal.abort() }), AbortedError);
    const controller = new AbortController();
    const stream = new FakeQmpServer({ greeting: false }).connectPair();
    const connecting = QmpClient.connect(stream, { signal: controller.signal });
    controller.abort(new Error('user pressed ^C'));
    await assert.rejects(connecting, (error: unknown) =>
      error instanceof AbortedError && /stopped waiting for the QMP greeting and capabilities negotiation \(cancelled: user pressed \^C\)/.test(error.message),
    );
    assert.equal(stream.destroyed, true);
  });

  it('fails cleanly when the stream dies right after the capabilities reply', async () => {
    const [client, server] = createDuplexPair();
    server.on('data', () => server.write('{"return": {}, "id": 1}\r\n{garbage\r\n'));
    server.write(GREETING);
    await assert.rejects(QmpClient.connect(client), QmpDisconnectedError);
  });
});
