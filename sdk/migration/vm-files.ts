import type { Host } from '../model/host.ts';
import { sh } from '../transport/index.ts';
import { filesUnder } from './destination-command-line.ts';

/**
 * Ends a VM's QEMU on `host` by its pid file (TERM, then KILL after 5 s) and
 * removes its conventional files: the QMP socket, the pid file, and files
 * its command line keeps in the runDir under the VM's name (console, logs,
 * sockets), and `alsoRemove` (the migration lock). Disk images are never removed: only names starting `<vm>.`
 * that are sockets or end in .console/.log/.sock/.pid/.qmp.
 */
export async function stopAndRemoveVm(host: Host, vm: string, argv: readonly string[], alsoRemove: readonly string[] = []): Promise<void> {
  const paths = host.paths(vm);
  const prefix = `${host.config.runDir.replace(/\/+$/, '')}/${vm}.`;
  const extra = filesUnder(argv, host.config.runDir).filter((file) => file.startsWith(prefix) && /\.(console|log|sock|pid|qmp)$/.test(file));
  const script = sh`p=$(cat ${paths.pid} 2>/dev/null)
gone() { [ ! -r "/proc/$1/stat" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" = Z ]; }
if [ -n "$p" ] && ! gone "$p"; then
  kill "$p" 2>/dev/null
  i=0; while [ $i -lt 50 ] && ! gone "$p"; do sleep 0.1; i=$((i+1)); done
  gone "$p" || kill -9 "$p" 2>/dev/null
  i=0; while [ $i -lt 50 ] && ! gone "$p"; do sleep 0.1; i=$((i+1)); done
fi
rm -f -- ${paths.qmp} ${paths.pid} ${extra}
rm -rf -- ${alsoRemove}`;
  await host.transport.shell(script, { allowFailure: true });
}
