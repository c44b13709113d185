import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'ssh2';
import type { GuestSpec, Lab } from './lab.ts';
import { RawQmp, sshConnect } from './raw-qmp.ts';

/** SSH connections to the two hosts, opened by the caller and kept (a warm run). */
export interface RawSshPair {
  source: Client;
  destination: Client;
}

export interface RawSshMigrationFigures {
  /** From the start (connections included when cold) until the source QEMU is gone and its files removed. */
  endToEndMs: number;
  /** Starting the destination QEMU over SSH until its QMP answered. */
  destinationStartMs: number;
  totalTimeMs: number;
  downtimeMs: number;
}

/**
 * The whole job of a hand-written migration script, done over SSH only:
 * start the destination QEMU (`-incoming`) on its host, migrate with raw
 * QMP, wait until the guest runs there, quit the source QEMU and remove its
 * files. With `pair` it reuses open connections (warm); without, it opens
 * fresh ones and closes them (cold). The baseline for bench/migrate.ts.
 */
export async function rawSshMigrate(lab: Lab, source: string, destination: string, name: string, spec: GuestSpec = {}, pair?: RawSshPair, port = 4444): Promise<RawSshMigrationFigures> {
  const started = performance.now();
  const [src, dst] = pair ? [pair.source, pair.destination] : await Promise.all([sshConnect(lab, source), sshConnect(lab, destination)]);
  try {
    const argv = await lab.guestArgv(destination, name, { ...spec, incoming: `tcp:${lab.hostAddress(destination)}:${port}` });
    // -daemonize returns once QEMU is set up: its QMP socket is there.
    const [srcQmp, dstQmp] = await Promise.all([
      RawQmp.over(src, `${lab.runDir(source)}/${name}.qmp`),
      sshRun(dst, argv.map(quote).join(' ')).then(() => RawQmp.over(dst, `${lab.runDir(destination)}/${name}.qmp`)),
    ]);
    const destinationStartMs = performance.now() - started;
    try {
      // QEMU's default 128 MiB/s cap is far below the link; lift it.
      await srcQmp.execute('migrate-set-parameters', { 'max-bandwidth': 10 * 1024 ** 3, 'downtime-limit': 300 });
      await srcQmp.execute('migrate', { uri: `tcp:${lab.hostAddress(destination)}:${port}` });
      let info: Record<string, unknown>;
      for (;;) {
        info = (await srcQmp.execute('query-migrate')) as Record<string, unknown>;
        if (info['status'] === 'completed') break;
        if (info['status'] === 'failed' || info['status'] === 'cancelled') throw new Error(`raw migration ${String(info['status'])}: ${JSON.stringify(info)}`);
        await sleep(10);
      }
      // The guest runs on the destination (it is `inmigrate` for a moment after `completed`).
      for (let status = ''; status !== 'running'; await sleep(5)) {
        status = ((await dstQmp.execute('query-status')) as { status: string }).status;
        if (status !== 'running' && status !== 'inmigrate') throw new Error(`raw migration: destination is ${status}`);
      }
      // total-time and downtime read 0 until a moment after `completed` (LAB.md).
      while (!(Number(info['total-time'] ?? 0) > 0)) {
        await sleep(5);
        info = (await srcQmp.execute('query-migrate')) as Record<string, unknown>;
      }
      await srcQmp.execute('quit').catch(() => undefined);
      const files = ['pid', 'qmp', 'console'].map((suffix) => quote(`${lab.runDir(source)}/${name}.${suffix}`));
      await sshRun(src, `rm -f ${files.join(' ')}`);
      return { endToEndMs: performance.now() - started, destinationStartMs, totalTimeMs: Number(info['total-time']), downtimeMs: Number(info['downtime']) };
    } finally {
      srcQmp.close();
      dstQmp.close();
    }
  } finally {
    if (!pair) {
      src.end();
      dst.end();
    }
  }
}

/** Runs a shell command over `ssh`; rejects unless it exits 0. */
function sshRun(ssh: Client, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    ssh.exec(command, (error, channel) => {
      if (error) return reject(error);
      let stderr = '';
      channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      channel.on('data', () => undefined);
      channel.on('close', (code: number | null) => (code === 0 ? resolve() : reject(new Error(`raw: ${command.slice(0, 80)}… exited ${code}: ${stderr.trim()}`))));
    });
  });
}

/** POSIX single quotes, for the remote /bin/sh. */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
