import { withRunDirConvention } from '../model/qemu-convention.ts';

/**
 * The destination QEMU's command line, from the source's real one (read from
 * `/proc/<pid>/cmdline`): the runtime files in the source's runDir (sockets,
 * consoles, logs; never disk images) move to the destination's, any `-incoming` is replaced by `-incoming defer` (so that
 * capabilities can be set before it listens), `-S` keeps the guest stopped
 * after the transfer until ferry (or its guard) has seen the source commit,
 * and ferry's convention (`-daemonize`, `-pidfile`, a QMP socket) is made sure of.
 *
 * @example
 * destinationCommandLine(['qemu-system-x86_64', '-qmp', 'unix:/run/ferry/a/web.qmp,server=on,wait=off'],
 *   { sourceRunDir: '/run/ferry/a', destinationRunDir: '/run/ferry/b', qmpSocket: '/run/ferry/b/web.qmp', pidFile: '/run/ferry/b/web.pid' });
 */
export function destinationCommandLine(
  sourceArgv: readonly string[],
  paths: { sourceRunDir: string; destinationRunDir: string; qmpSocket: string; pidFile: string },
): string[] {
  const from = paths.sourceRunDir.replace(/\/+$/, '') + '/';
  const to = paths.destinationRunDir.replace(/\/+$/, '') + '/';
  const argv: string[] = [];
  for (let i = 0; i < sourceArgv.length; i++) {
    const arg = sourceArgv[i] ?? '';
    const option = arg.replace(/^--/, '-');
    if (option === '-incoming') {
      i++; // drop its value too
      continue;
    }
    if (option.startsWith('-incoming=')) continue;
    argv.push(rewriteRuntimeFiles(arg, from, to));
  }
  const withConvention = withRunDirConvention(argv, paths);
  if (!withConvention.includes('-S')) withConvention.push('-S');
  return [...withConvention, '-incoming', 'defer'];
}

// A VM's own runtime files in the runDir (sockets, consoles, logs): each QEMU has its own.
const RUNTIME_FILE = /\.(console|log|sock|pid|qmp|mon)$/;

/**
 * Moves the source runDir's runtime files (sockets, consoles, logs) to the
 * destination's runDir. Nothing else is rewritten: a disk image keeps its
 * path, so the destination opens the very file the guest wrote (or preflight
 * refuses), never a stale copy of the same name in its own runDir.
 */
function rewriteRuntimeFiles(arg: string, from: string, to: string): string {
  return arg.replace(/(^|[=,:])(\/[^,]+)/g, (match: string, lead: string, path: string) => {
    if (!path.startsWith(from) || path.slice(from.length).includes('/') || !RUNTIME_FILE.test(path)) return match;
    return `${lead}${to}${path.slice(from.length)}`;
  });
}

/** The files a QEMU command line names under `runDir` (the source's leftovers to clean after a migration). */
export function filesUnder(argv: readonly string[], runDir: string): string[] {
  const prefix = runDir.replace(/\/+$/, '') + '/';
  const files = new Set<string>();
  for (const arg of argv) {
    for (const match of arg.matchAll(/(?:^|[=,:])(\/[^,]+)/g)) {
      const path = match[1] ?? '';
      if (path.startsWith(prefix) && !path.slice(prefix.length).includes('/')) files.add(path);
    }
  }
  return [...files];
}

/**
 * Pins the machine type: `-machine pc,accel=tcg` becomes
 * `-machine pc-i440fx-7.2,accel=tcg` when the source resolved `pc` to that,
 * so a newer QEMU on the destination does not pick a newer machine.
 */
export function pinMachineType(argv: readonly string[], machineType: string | undefined): string[] {
  if (!machineType) return [...argv];
  const pinned = [...argv];
  for (let i = 0; i < pinned.length - 1; i++) {
    const option = pinned[i]?.replace(/^--/, '-');
    if (option !== '-machine' && option !== '-M') continue;
    const fields = (pinned[i + 1] ?? '').split(',');
    const typeIndex = fields.findIndex((field) => field.startsWith('type='));
    if (typeIndex >= 0) fields[typeIndex] = `type=${machineType}`;
    else if (fields[0] !== undefined && !fields[0].includes('=')) fields[0] = machineType;
    else fields.unshift(machineType);
    pinned[i + 1] = fields.join(',');
    return pinned;
  }
  pinned.splice(1, 0, '-machine', machineType);
  return pinned;
}
