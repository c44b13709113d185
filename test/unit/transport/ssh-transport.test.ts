/** SshTransport against a real OpenSSH server on loopback: commands, streams, concurrency, cancellation, reconnects. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { AbortedError } from '../../../sdk/ferry-error.ts';
import { sh } from '../../../sdk/transport/posix-quote.ts';
import type { SshTransportOptions } from '../../../sdk/transport/ssh-settings.ts';
import { SshTransport } from '../../../sdk/transport/ssh-transport.ts';
import {
  ChannelOpenError, CommandFailedError, CommandTimeoutError, SshConnectionLostError, TransportClosedError,
} from '../../../sdk/transport/transport-errors.ts';
import { sshdAvailable, startLocalSshd, type LocalSshd } from '../../fakes/local-sshd.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Pids of processes whose command line contains `text` (to prove nothing is left running). */
async function processesWith(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replaceAll('\0', ' ').includes(text)) pids.push(Number(name));
  }
  return pids;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 8000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

async function echoThrough(stream: Duplex, text: string): Promise<string> {
  stream.end(text);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('SshTransport against a real sshd', { skip: !sshdAvailable() && 'no /usr/sbin/sshd' }, () => {
  let sshd: LocalSshd;
  let host: SshTransport;
  const options = (): SshTransportOptions => ({
    target: sshd.target, configFile: false, agent: false, knownHostsFiles: [sshd.knownHostsFile], identityFiles: [sshd.clientKey.privateKeyFile],
  });

  before(async () => {
    sshd = await startLocalSshd();
    host = new SshTransport(options());
  });
  after(async () => {
    await host.close();
    await sshd.stop();
  });

  it('passes hostile arguments through the remote shell untouched', async () => {
    const marker = join(sshd.dir, 'pwned');
    const words = [`x; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, "it's", 'a\nb', 'ünï 🚀', '', '*', '$HOME'];
    const result = await host.exec(['printf', '%s\\0', ...words]);
    assert.deepEqual(result.stdout.split('\0').slice(0, -1), words);
    assert.ok(!existsSync(marker), 'nothing in the arguments was executed');
    assert.equal(host.label, `${sshd.user}@127.0.0.1:${sshd.port}`);
  });

  it('separates stdout, stderr and the exit code', async () => {
    const result = await host.shell('echo out; echo err >&2; exit 3', { allowFailure: true });
    assert.deepEqual(result, { stdout: 'out\n', stderr: 'err\n', exitCode: 3, signal: null });
  });

  it('throws CommandFailedError with the command and the last stderr line', async () => {
    const error = await host.exec(['ls', '/nonexistent dir']).catch((e: unknown) => e);
    assert.ok(error instanceof CommandFailedError);
    assert.equal(error.exitCode, 2);
    assert.equal(error.host, host.label);
    assert.match(error.message, /^command `ls '\/nonexistent dir'` on .* exited with status 2: .*No such file/);
    assert.doesNotMatch(error.stderr, /ferry-pid/);
  });

  it('runs sh-built scripts with /bin/sh and feeds stdin', async () => {
    const name = "vm 'one'";
    assert.equal((await host.shell(sh`printf '%s' ${name} | wc -c`)).stdout.trim(), String(Buffer.byteLength(name)));
    assert.equal((await host.exec(['cat'], { stdin: 'data\n' })).stdout, 'data\n');
    assert.equal((await host.exec(['cat'])).stdout, '', 'no stdin means EOF, not a hang');
  });

  it('runs many commands at once over one connection', async () => {
    const before = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => host.exec(['echo', String(i)])));
    assert.deepEqual(results.map((r) => r.stdout), Array.from({ length: 30 }, (_, i) => `${i}\n`));
    assert.equal((sshd.log().match(/Accepted publickey/g) ?? []).length, before, 'no new connection was opened');
  });

  it('aborts a long command promptly and kills it on the host', async () => {
    const tag = `30.${process.pid}1`;
    const controller = new AbortController();
    const run = host.exec(['sleep', tag], { signal: controller.signal });
    assert.ok(await eventually(async () => (await processesWith(`sleep ${tag}`)).length > 0), 'the command started');
    const started = Date.now();
    controller.abort();
    await assert.rejects(run, AbortedError);
    assert.ok(Date.now() - started < 500, 'rejected at once');
    assert.ok(await eventually(async () => (await processesWith(`sleep ${tag}`)).length === 0), 'the remote sleep was killed');
  });

  it('kills a command that outlives its timeout', async () => {
    const tag = `20.${process.pid}2`;
    const error = await host.shell(sh`sleep ${tag}; echo late`, { timeoutMs: 1500 }).catch((e: unknown) => e);
    assert.ok(error instanceof CommandTimeoutError);
    assert.ok(await eventually(async () => (await processesWith(`sleep ${tag}`)).length === 0), 'the remote script and its child were killed');
  });

  it('opens a UNIX socket on the host without socat', async () => {
    const path = join(sshd.dir, 'echo.sock');
    const server: Server = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      assert.equal(await echoThrough(await host.openUnixSocket(path), 'qmp-capabilities'), 'qmp-capabilities');
      await assert.rejects(host.openUnixSocket(join(sshd.dir, 'missing.sock')), ChannelOpenError);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('opens a TCP port as seen from the host', async () => {
    const server: Server = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      assert.ok(address && typeof address === 'object');
      assert.equal(await echoThrough(await host.openTcp('127.0.0.1', address.port), 'nbd'), 'nbd');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('fails an open stream with SshConnectionLostError when the connection drops', async () => {
    const path = join(sshd.dir, 'hold.sock');
    const server: Server = createServer(() => {});
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const stream = await host.openUnixSocket(path);
      const failed = new Promise<unknown>((resolve) => stream.once('error', resolve));
      await sshd.dropConnections();
      assert.ok((await failed) instanceof SshConnectionLostError);
    } finally {
      server.close();
    }
  });

  it('rejects an argument with a NUL byte before running anything', async () => {
    await assert.rejects(host.exec(['echo', 'a\0b']), TypeError);
  });

  it('reconnects when sshd restarted between two commands', async () => {
    assert.equal((await host.exec(['echo', 'one'])).stdout, 'one\n');
    await sshd.restart();
    assert.equal((await host.exec(['echo', 'two'])).stdout, 'two\n');
  });

  it('fails a command in flight when the connection drops, then recovers', async () => {
    const run = host.exec(['sleep', `25.${process.pid}3`]).catch((e: unknown) => e);
    assert.ok(await eventually(async () => (await processesWith(`sleep 25.${process.pid}3`)).length > 0));
    await sshd.dropConnections();
    const error = await run;
    assert.ok(error instanceof SshConnectionLostError, String(error));
    assert.match(error.message, /lost while `sleep 25\.\d+` was running/);
    assert.equal((await host.exec(['echo', 'back'])).stdout, 'back\n');
  });

  it('queues sessions when sshd allows fewer than ferry assumed (MaxSessions)', async () => {
    const small = await startLocalSshd({ extraConfig: ['MaxSessions 2'] });
    const transport = new SshTransport({ ...options(), target: small.target, knownHostsFiles: [small.knownHostsFile], identityFiles: [small.clientKey.privateKeyFile] });
    try {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => transport.exec(['sh', '-c', `sleep 0.2; echo ${i}`])));
      assert.deepEqual(results.map((r) => r.stdout.trim()), ['0', '1', '2', '3', '4', '5', '6', '7']);
    } finally {
      await transport.close();
      await small.stop();
    }
  });

  it('refuses work after close, and close ends running commands', async () => {
    const transport = new SshTransport(options());
    await transport.exec(['true']);
    const running = transport.exec(['sleep', `15.${process.pid}4`]).catch((e: unknown) => e);
    assert.ok(await eventually(async () => (await processesWith(`sleep 15.${process.pid}4`)).length > 0));
    await transport.close();
    assert.ok((await running) instanceof TransportClosedError);
    await assert.rejects(transport.exec(['true']), TransportClosedError);
    assert.ok(await eventually(async () => (await processesWith(`sleep 15.${process.pid}4`)).length === 0));
  });
});
