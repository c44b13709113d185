import { connect, type Socket } from 'node:net';

/**
 * Asks a QEMU on this machine (the lab's runDirs are local files) a few
 * QMP commands over its socket, with no ferry code in between: how the
 * tests judge where a VM really is. QEMU serves one client at a time, so a
 * socket held by someone else answers nothing: undefined after `timeoutMs`.
 */
export async function localQmp(socketPath: string, commands: readonly (string | { execute: string; arguments: Record<string, unknown> })[], timeoutMs = 5000): Promise<Record<string, unknown>[] | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ path: socketPath });
    const replies: Record<string, unknown>[] = [];
    let greeted = false;
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (value: Record<string, unknown>[] | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    socket.on('error', () => finish(undefined));
    onQmpMessages(socket, (message) => {
      if ('QMP' in message && !greeted) {
        greeted = true;
        socket.write(JSON.stringify({ execute: 'qmp_capabilities', id: 'caps' }) + '\n');
        for (const [i, command] of commands.entries()) socket.write(JSON.stringify({ ...(typeof command === 'string' ? { execute: command } : command), id: i }) + '\n');
      } else if (typeof message['id'] === 'number') {
        replies[message['id']] = (message['return'] ?? message['error']) as Record<string, unknown>;
        if (replies.filter(Boolean).length === commands.length) finish(replies);
      }
    });
  });
}

/** Calls `handle` with each JSON message a QMP socket sends (one per line). */
export function onQmpMessages(socket: Socket, handle: (message: Record<string, unknown>) => void): void {
  let buffer = '';
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.trim()) handle(JSON.parse(line) as Record<string, unknown>);
    }
  });
}

/** A VM's state on one lab host, from raw QMP: absent (no socket answers), or its run state and migration status. */
export interface RawVmState {
  runState?: string;
  migration?: string;
}

export async function rawVmState(socketPath: string, timeoutMs = 5000): Promise<RawVmState | undefined> {
  const replies = await localQmp(socketPath, ['query-status', 'query-migrate'], timeoutMs);
  if (!replies) return undefined;
  return { runState: replies[0]?.['status'] as string | undefined, migration: (replies[1]?.['status'] as string | undefined) ?? 'none' };
}
