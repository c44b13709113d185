/**
 * Makes sure a QEMU command line follows ferry's convention: daemonized,
 * with its pid file and a QMP socket where ferry looks for them. Options
 * already there are kept as they are.
 *
 * @example
 * withRunDirConvention(['qemu-system-x86_64', '-m', '512'], { qmpSocket: '/run/ferry/web.qmp', pidFile: '/run/ferry/web.pid' });
 */
export function withRunDirConvention(argv: readonly string[], paths: { qmpSocket: string; pidFile: string }): string[] {
  const result = [...argv];
  const has = (name: string) => result.some((arg) => arg === name || arg === `-${name}` || arg.startsWith(`${name}=`));
  if (!has('-daemonize')) result.push('-daemonize');
  if (!has('-pidfile')) result.push('-pidfile', paths.pidFile);
  if (!result.some((arg) => arg.includes(paths.qmpSocket))) result.push('-qmp', `unix:${paths.qmpSocket},server=on,wait=off`);
  return result;
}
