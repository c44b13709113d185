// The Debian guest's TCP clients against local stand-ins for its services:
// the sequence checker must catch a lost and a replayed number, and the
// command client must return the exit status the service reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { GuestCommandError, guestCommand } from '../../lab/guest-command.ts';
import { SequenceStream } from '../../lab/sequence-stream.ts';

async function serve(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { server, port: address.port };
}

async function streamOf(text: string): Promise<ReturnType<SequenceStream['report']>> {
  const { server, port } = await serve((socket) => {
    // Split mid-line: the checker must join partial lines.
    socket.write(text.slice(0, 5));
    setTimeout(() => socket.write(text.slice(5)), 20);
  });
  try {
    const stream = await SequenceStream.open('127.0.0.1', { port });
    await new Promise((resolve) => setTimeout(resolve, 100));
    return await stream.close();
  } finally {
    server.close();
  }
}

test('SequenceStream: a clean sequence, a lost number and a replayed one', async () => {
  const clean = await streamOf('1\n2\n3\n4\n5\n6\n');
  assert.deepEqual([clean.received, clean.last, clean.gaps, clean.repeats, clean.endedEarly], [6, 6, 0, 0, undefined]);
  const lost = await streamOf('1\n2\n3\n5\n6\n');
  assert.deepEqual([lost.gaps, lost.repeats, lost.firstFault], [1, 0, 'after 3 came "5"']);
  const replayed = await streamOf('1\n2\n3\n2\n3\n4\n');
  assert.equal(replayed.repeats, 2);
  assert.equal(replayed.firstFault, 'after 3 came "2"');
});

test('SequenceStream: a connection the guest closes is reported as ended early', async () => {
  const { server, port } = await serve((socket) => socket.end('1\n2\n'));
  try {
    const stream = await SequenceStream.open('127.0.0.1', { port });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const report = await stream.close();
    assert.equal(report.endedEarly, 'closed by the guest');
  } finally {
    server.close();
  }
});

test('guestCommand: output and exit status as the service reports them', async () => {
  const seen: string[] = [];
  const { server, port } = await serve((socket) => {
    socket.once('data', (line) => {
      seen.push(String(line));
      socket.end('hello\nworld\nferry-exit: 3\n');
    });
  });
  try {
    assert.deepEqual(await guestCommand('127.0.0.1', 'systemctl is-system-running', { port }), { output: 'hello\nworld\n', exitCode: 3 });
    assert.deepEqual(seen, ['systemctl is-system-running\n']);
    await assert.rejects(guestCommand('127.0.0.1', 'a\nb', { port }), GuestCommandError);
  } finally {
    server.close();
  }
});

test('guestCommand: a service that closes without a status, or never answers, is an error', async () => {
  const { server, port } = await serve((socket) => socket.end('half'));
  const silent = await serve(() => {});
  try {
    await assert.rejects(guestCommand('127.0.0.1', 'true', { port }), /closed without an exit status/);
    await assert.rejects(guestCommand('127.0.0.1', 'true', { port: silent.port, timeoutMs: 100 }), /no answer within 100 ms/);
    const controller = new AbortController();
    const pending = guestCommand('127.0.0.1', 'true', { port: silent.port, signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, /aborted/);
  } finally {
    server.close();
    silent.server.close();
  }
});
