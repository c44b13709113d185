/**
 * OpenSSH host patterns, as in `Host` lines and known_hosts names: `*` and `?`
 * wildcards, `!` to negate, compared without regard to case.
 */

/**
 * Does `name` match one glob pattern?
 *
 * @example
 * matchesGlob('web1.example.com', '*.example.com') // => true
 */
export function matchesGlob(name: string, pattern: string): boolean {
  const source = [...pattern.toLowerCase()]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 's').test(name.toLowerCase());
}

/**
 * Does `name` match a list of patterns? A matching negated pattern wins over any
 * positive one (OpenSSH's rule); a list of only negations matches nothing.
 *
 * @example
 * matchesPatternList('db1', ['*', '!db*']) // => false
 */
export function matchesPatternList(name: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('!')) {
      if (matchesGlob(name, pattern.slice(1))) return false;
    } else if (matchesGlob(name, pattern)) {
      matched = true;
    }
  }
  return matched;
}
