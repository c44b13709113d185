/**
 * Quoting for a POSIX `/bin/sh` on the far side of SSH. Never bash's `$'…'`,
 * which dash and busybox sh read as a literal `$` followed by a string.
 */

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quote one argument so that a POSIX shell reads it back byte for byte.
 *
 * @example
 * quote('vm 1; rm -rf /') // => "'vm 1; rm -rf /'"
 * quote("it's")           // => "'it'\\''s'"
 * quote('')               // => "''"
 */
export function quote(arg: string): string {
  if (arg.includes('\0')) throw new TypeError(`cannot pass an argument containing a NUL byte to a shell: ${JSON.stringify(arg)}`);
  if (arg === '') return "''";
  if (SAFE_WORD.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Quote every word of an argv and join them with spaces.
 *
 * @example
 * quoteArgv(['ls', '-l', 'my dir']) // => "ls -l 'my dir'"
 */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}

/** What `sh` accepts between `${}`: a word, a number, or a list of words. */
export type ShellValue = string | number | readonly (string | number)[];

/**
 * A tagged template that quotes every interpolation; arrays become several quoted words.
 * The literal parts are kept as written, so they are the script's syntax.
 *
 * @example
 * sh`df -h ${dir}`                 // dir = 'my disk' => "df -h 'my disk'"
 * sh`rm -f ${['a b', 'c']} && ls`  // => "rm -f 'a b' c && ls"
 */
export function sh(literals: TemplateStringsArray, ...values: readonly ShellValue[]): string {
  let script = literals[0] ?? '';
  values.forEach((value, i) => {
    script += quoteValue(value) + (literals[i + 1] ?? '');
  });
  return script;
}

function quoteValue(value: ShellValue): string {
  if (typeof value === 'number') return quote(String(value));
  if (typeof value === 'string') return quote(value);
  return value.map((word) => quote(String(word))).join(' ');
}
