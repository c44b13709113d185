import type { Host } from '../model/host.ts';
import { sh } from '../transport/index.ts';
import { filesUnder } from './destination-command-line.ts';
import { withAlive } from '../model/live-process.ts';

/**
 * Ends a VM's QEMU on `host` by its pid file (TERM, then KILL after 5 s) and
 * removes its conventional files: the QMP socket, the pid file, and files
 * its command line keeps in the runDir under the VM's name (console, logs,
 * sockets), and `alsoRemove` (the migration lock). Disk images are never removed: only names starting `<vm>.`
 * that are sockets or end in .console/.log/.sock/.pid/.qmp.
 */
export async function stopAndRemoveVm(host: Host, vm: string, argv: readonly string[], alsoRemove: readonly string[] = []): Promise<void> {
  const paths = host.paths(vm);
  const files = vmFiles(host, vm, argv);
  const script = withAlive(sh`p=$(cat ${paths.pid} 2>/dev/null)
if alive "$p"; then
  kill "$p" 2>/dev/null
  i=0; while [ $i -lt 50 ] && alive "$p"; do sleep 0.1; i=$((i+1)); done
  alive "$p" && kill -9 "$p" 2>/dev/null
  i=0; while [ $i -lt 50 ] && alive "$p"; do sleep 0.1; i=$((i+1)); done
fi
rm -f -- ${files}
rm -rf -- ${alsoRemove}`);
  await host.transport.shell(script, { allowFailure: true });
}

/**
 * The files of a VM's QEMU that ferry may remove once that QEMU is gone: its
 * QMP socket and pid file, and the runDir files its command line names under
 * the VM's name (console, logs, sockets). Never a disk image.
 */
export function vmFiles(host: Host, vm: string, argv: readonly string[]): string[] {
  const paths = host.paths(vm);
  const prefix = `${host.config.runDir.replace(/\/+$/, '')}/${vm}.`;
  const extra = filesUnder(argv, host.config.runDir).filter((file) => file.startsWith(prefix) && /\.(console|log|sock|pid|qmp)$/.test(file));
  return [...new Set([paths.qmp, paths.pid, ...extra])];
}
