/**
 * A real OpenSSH server on 127.0.0.1 for tests (despite the folder: nothing here
 * is faked). Each instance has its own temp dir, host key, client key,
 * authorized_keys and known_hosts; `stop()` leaves nothing running or on disk.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { localUserName } from '../../sdk/transport/ssh-settings.ts';

const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';

/** Is there an sshd to test against? */
export function sshdAvailable(): boolean {
  return existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen');
}

export interface KeyPair {
  privateKeyFile: string;
  /** "ssh-ed25519 AAAA… comment" */
  publicKeyLine: string;
  /** The base64 field of the public key. */
  publicKeyBase64: string;
}

/** Generate an unencrypted (or passphrase-protected) key pair with ssh-keygen. */
export async function makeKeyPair(dir: string, name: string, type = 'ed25519', passphrase = ''): Promise<KeyPair> {
  const privateKeyFile = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', `ferry-test-${name}`, '-f', privateKeyFile]);
  const publicKeyLine = (await readFile(`${privateKeyFile}.pub`, 'utf8')).trim();
  return { privateKeyFile, publicKeyLine, publicKeyBase64: publicKeyLine.split(' ')[1] ?? '' };
}

export interface LocalSshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The local user, which the server lets in with `clientKey`. */
  readonly user: string;
  readonly dir: string;
  /** The first host key; `hostKeys` has all of them. */
  readonly hostKey: KeyPair;
  readonly hostKeys: readonly KeyPair[];
  readonly clientKey: KeyPair;
  /** A known_hosts file with `[127.0.0.1]:port` entries for every host key. */
  readonly knownHostsFile: string;
  /** "user@127.0.0.1:port" */
  readonly target: string;
  /** Kill every connection (and the commands they run), as a crash of the host's sshd would. */
  dropConnections(): Promise<void>;
  /** Drop the connections, stop the server and start it again on the same port with the same keys. */
  restart(): Promise<void>;
  /** What sshd wrote to stderr (for failing tests). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Start `/usr/sbin/sshd -D -e` on 127.0.0.1 with a free high port.
 *
 * @example
 * const sshd = await startLocalSshd();
 * try { … new SshTransport({ target: sshd.target, knownHostsFiles: [sshd.knownHostsFile], identityFiles: [sshd.clientKey.privateKeyFile], agent: false }) … }
 * finally { await sshd.stop(); }
 */
export async function startLocalSshd(options: { extraConfig?: string[]; hostKeyTypes?: string[] } = {}): Promise<LocalSshd> {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir
  const dir = await mkdtemp(join(tmpdir(), 'ferry-sshd-'));
  const hostKeys = await Promise.all((options.hostKeyTypes ?? ['ed25519']).map((type) => makeKeyPair(dir, `ssh_host_${type}_key`, type)));
  const hostKey = hostKeys[0];
  if (!hostKey) throw new Error('at least one host key type is needed');
  const clientKey = await makeKeyPair(dir, 'client_ed25519');
  await writeFile(join(dir, 'authorized_keys'), `${clientKey.publicKeyLine}\n`, { mode: 0o600 });
  const port = await freePort();
  const configFile = join(dir, 'sshd_config');
  await writeFile(configFile, [
    ...(options.extraConfig ?? []), // first, because sshd keeps the first value of a keyword
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    ...hostKeys.map((key) => `HostKey ${key.privateKeyFile}`),
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'AllowTcpForwarding yes',
    'AllowStreamLocalForwarding yes',
    'LogLevel VERBOSE',
    // Sessions get the temp dir as HOME, so that the login shell does not read the
    // real user's rc files (bash does under sshd), which may be slow or noisy.
    `SetEnv HOME=${dir}`,
    '',
  ].join('\n'));
  const knownHostsFile = join(dir, 'known_hosts');
  await writeFile(knownHostsFile, hostKeys.map((key) => `[127.0.0.1]:${port} ${key.publicKeyLine.split(' ').slice(0, 2).join(' ')}\n`).join(''));

  let logText = '';
  let server = await launch(configFile, port, (text) => (logText = (logText + text).slice(-20_000)));
  // If the test process dies before stop(), do not leave the listener behind.
  const onExit = (): void => signal(server.pid ?? 0, 'SIGKILL');
  process.once('exit', onExit);
  const user = localUserName();

  const dropConnections = async (): Promise<void> => {
    if (server.pid === undefined) return;
    const pids = await descendants(server.pid);
    for (const pid of pids) signal(pid, 'SIGKILL');
    await waitUntil(async () => (await descendants(server.pid ?? 0)).length === 0, 5000);
  };
  const stopServer = async (): Promise<void> => {
    await dropConnections();
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
  };
  return {
    host: '127.0.0.1', port, user, dir, hostKey, hostKeys, clientKey, knownHostsFile,
    target: `${user}@127.0.0.1:${port}`,
    dropConnections,
    async restart() {
      await stopServer();
      server = await launch(configFile, port, (text) => (logText = (logText + text).slice(-20_000)));
    },
    log: () => logText,
    async stop() {
      await stopServer();
      process.off('exit', onExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Start sshd and wait until it says it is listening (or fail with its log). */
async function launch(configFile: string, port: number, onLog: (text: string) => void): Promise<ChildProcess> {
  const child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`sshd did not start listening on port ${port} within 10 s:\n${seen}`)), 10_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      seen += text;
      onLog(text);
      if (seen.includes(`Server listening on 127.0.0.1 port ${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`sshd exited with ${code}:\n${seen}`)));
  });
  child.removeAllListeners('exit');
  return child;
}

/** Every process below `pid`, read from /proc (children before their parents do not matter for SIGKILL). */
async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
  }
  const found: number[] = [];
  const visit = (parent: number): void => {
    for (const child of parents.get(parent) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

function signal(pid: number, name: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface SshAgent {
  /** The agent's socket (SSH_AUTH_SOCK). */
  readonly socket: string;
  readonly pid: number;
  /** ssh-add a private key file. */
  add(privateKeyFile: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Start a real `ssh-agent -D -a <socket>` in `dir`.
 *
 * @example
 * const agent = await startSshAgent(dir);
 * await agent.add(keyFile);
 */
export async function startSshAgent(dir: string): Promise<SshAgent> {
  const socket = join(dir, 'agent.sock');
  const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: ['ignore', 'ignore', 'ignore'] });
  if (child.pid === undefined) throw new Error('ssh-agent did not start');
  const pid = child.pid;
  await waitUntil(async () => existsSync(socket), 5000);
  return {
    socket,
    pid,
    async add(privateKeyFile) {
      await run('ssh-add', ['-q', privateKeyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      signal(pid, 'SIGTERM');
      await exited;
    },
  };
}
