import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AbortedError } from '../../../sdk/ferry-error.ts';
import { LocalTransport } from '../../../sdk/transport/local-transport.ts';
import { sh } from '../../../sdk/transport/posix-quote.ts';
import { ChannelOpenError, CommandFailedError, CommandTimeoutError, TransportClosedError } from '../../../sdk/transport/transport-errors.ts';

const local = new LocalTransport();
let dir = '';
before(async () => (dir = await mkdtemp(join(tmpdir(), 'ferry-local-'))));
after(() => rm(dir, { recursive: true, force: true }));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('LocalTransport', () => {
  it('runs argv without a shell', async () => {
    const marker = join(dir, 'pwned');
    const result = await local.exec(['printf', '%s|', `x; touch ${marker}`, '$(id)']);
    assert.deepEqual(result, { stdout: `x; touch ${marker}|$(id)|`, stderr: '', exitCode: 0, signal: null });
    assert.ok(!existsSync(marker));
  });

  it('runs scripts with /bin/sh and separates stdout, stderr and the exit code', async () => {
    const result = await local.shell('echo out; echo err >&2; exit 3', { allowFailure: true });
    assert.deepEqual(result, { stdout: 'out\n', stderr: 'err\n', exitCode: 3, signal: null });
  });

  it('throws CommandFailedError naming the command and the last stderr line', async () => {
    const error = await local.exec(['ls', '/nonexistent/ferry']).catch((e: unknown) => e);
    assert.ok(error instanceof CommandFailedError);
    assert.equal(error.exitCode, 2);
    assert.deepEqual(error.argv, ['ls', '/nonexistent/ferry']);
    assert.match(error.message, /^command `ls \/nonexistent\/ferry` on local exited with status 2: .*No such file/);
    assert.equal(error.host, 'local');
  });

  it('reports a missing program as exit 127', async () => {
    const result = await local.exec(['/nonexistent/program'], { allowFailure: true });
    assert.equal(result.exitCode, 127);
    assert.match(result.stderr, /cannot run \/nonexistent\/program/);
  });

  it('feeds stdin as text or bytes, and /dev/null otherwise', async () => {
    assert.equal((await local.exec(['cat'], { stdin: 'héllo\n' })).stdout, 'héllo\n');
    assert.equal((await local.exec(['od', '-An', '-tx1'], { stdin: new Uint8Array([0, 255, 10]) })).stdout.trim(), '00 ff 0a');
    assert.equal((await local.exec(['cat'])).stdout, '');
  });

  it('abort kills the whole process group and rejects at once', async () => {
    const marker = join(dir, 'survived');
    const controller = new AbortController();
    const started = Date.now();
    const run = local.shell(sh`sleep 1 && touch ${marker} & sleep 30; wait`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(run, AbortedError);
    assert.ok(Date.now() - started < 2000);
    await sleep(1300);
    assert.ok(!existsSync(marker), 'the background child was killed with its group');
  });

  it('rejects at once when the signal is already aborted', async () => {
    await assert.rejects(local.exec(['true'], { signal: AbortSignal.abort() }), AbortedError);
  });

  it('times out with CommandTimeoutError', async () => {
    const error = await local.exec(['sleep', '5'], { timeoutMs: 150 }).catch((e: unknown) => e);
    assert.ok(error instanceof CommandTimeoutError);
    assert.match(error.message, /sleep 5.*did not finish within 150 ms/);
  });

  it('reports a signal death as 128 + n', async () => {
    const result = await local.shell('kill -TERM $$', { allowFailure: true });
    assert.equal(result.signal, 'SIGTERM');
    assert.equal(result.exitCode, 143);
  });

  it('opens UNIX sockets and TCP ports, and says which one failed', async () => {
    const path = join(dir, 'echo.sock');
    const server: Server = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const stream = await local.openUnixSocket(path);
      stream.end('ping');
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'ping');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    await assert.rejects(local.openUnixSocket(join(dir, 'missing.sock')), (e: unknown) => e instanceof ChannelOpenError && /missing\.sock/.test(e.message));
    await assert.rejects(local.openTcp('127.0.0.1', 1), ChannelOpenError);
  });

  it('refuses work after close', async () => {
    const transport = new LocalTransport();
    const running = transport.exec(['sleep', '5']);
    await transport.close();
    await assert.rejects(running, TransportClosedError);
    await assert.rejects(transport.exec(['true']), TransportClosedError);
  });
});
