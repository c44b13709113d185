/**
 * A POSIX shell function, `alive PID`, for scripts ferry runs on a host:
 * true while the process exists and is not a zombie (an exited QEMU lingers
 * as one for a moment, and `kill -0` still succeeds on it). Prepend it to a
 * script built with the `sh` template.
 *
 * @example
 * host.transport.shell(`${ALIVE_SH}\n${sh`p=$(cat ${pidFile}); if alive "$p"; then echo "$p"; fi`}`);
 */
export const ALIVE_SH = `alive() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]; }`;

/** `script` with the `alive` function defined first. */
export function withAlive(script: string): string {
  return `${ALIVE_SH}\n${script}`;
}
