import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { matchesGlob, matchesPatternList } from './host-patterns.ts';
import { SshConfigError } from './transport-errors.ts';

/**
 * What an OpenSSH client config says for one host, before tokens (%h, ~) are expanded:
 * from `ssh -G` where OpenSSH's client is installed (openssh-config.ts), else from
 * ferry's own reader here. Only the keywords ferry acts on are kept; the reader
 * names every other one it met in `notes`, and `Match` blocks are skipped with a note.
 */
export interface SshConfigValues {
  hostName?: string;
  user?: string;
  port?: number;
  /** Every IdentityFile that applies, in order (the one keyword that accumulates). */
  identityFiles: string[];
  identitiesOnly?: boolean;
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  strictHostKeyChecking?: 'yes' | 'no' | 'accept-new' | 'ask';
  connectTimeoutSeconds?: number;
  serverAliveIntervalSeconds?: number;
  serverAliveCountMax?: number;
  identityAgent?: string;
  hostKeyAlias?: string;
  /** `host1,user@host2:port` or `ssh://` URIs: the hosts to connect through, in order. */
  proxyJump?: string;
  /** Parsed so that ferry can refuse it clearly: ferry runs no local commands to connect. */
  proxyCommand?: string;
  /** Things the reader skipped that a person may want to know about. */
  notes: string[];
}

/** One `Keyword args…` line of a config file. */
export interface SshConfigLine {
  keyword: string;
  args: string[];
  file: string;
  line: number;
}

/**
 * Split a config file into keyword lines (comments and blank lines dropped; `Keyword=value` allowed).
 *
 * @example
 * parseSshConfig('Host web\n  HostName 10.0.0.1\n', '/root/.ssh/config')
 */
export function parseSshConfig(text: string, file: string): SshConfigLine[] {
  const lines: SshConfigLine[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const at = `${file}:${index + 1}`;
    const match = /^\s*([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+|$)(.*)$/.exec(raw);
    if (raw.trim() === '' || raw.trim().startsWith('#')) return;
    if (!match?.[1]) throw new SshConfigError('config', `cannot read this line: ${raw.trim()}`, at);
    lines.push({ keyword: match[1].toLowerCase(), args: splitArgs(match[2] ?? '', at), file, line: index + 1 });
  });
  return lines;
}

function splitArgs(text: string, at: string): string[] {
  const args: string[] = [];
  const token = /\s*(?:"([^"]*)"|([^\s"]+))/y;
  let end = 0;
  for (let match = token.exec(text); match !== null; match = token.exec(text)) {
    if (match[2]?.startsWith('#')) return args; // the rest of the line is a comment
    args.push(match[1] ?? match[2] ?? '');
    end = token.lastIndex;
  }
  if (text.slice(end).trim() !== '') throw new SshConfigError('config', 'unterminated quote', at);
  return args;
}

export interface ResolveConfigOptions {
  /** The config file to start from. */
  file: string;
  /** Where a relative `Include` points from (OpenSSH: ~/.ssh for the user's config). */
  includeDir: string;
  /** Read after `file`, as OpenSSH reads /etc/ssh/ssh_config after ~/.ssh/config (its relative Includes start at /etc/ssh). */
  systemFile?: string;
  /** What `~` means in an Include. */
  home?: string;
}

/**
 * The values a config file gives `host` (the name as the user typed it, maybe an alias),
 * with OpenSSH's rules: the first value obtained for a keyword wins, `Host` lines with
 * `*`/`?`/`!` patterns, `Include` (conditional when inside a Host block), `Match` skipped.
 * A missing start file gives no values.
 *
 * @example
 * const values = resolveSshConfig('web', { file: '/root/.ssh/config', includeDir: '/root/.ssh' });
 */
export function resolveSshConfig(host: string, options: ResolveConfigOptions): SshConfigValues {
  const values: SshConfigValues = { identityFiles: [], notes: [] };
  const text = readIfExists(options.file);
  if (text !== undefined) applyFile(host, text, options.file, options, values, true, 0);
  const systemText = options.systemFile === undefined ? undefined : readIfExists(options.systemFile);
  if (options.systemFile !== undefined && systemText !== undefined) applyFile(host, systemText, options.systemFile, { ...options, includeDir: dirname(options.systemFile) }, values, true, 0);
  return values;
}

const MAX_INCLUDE_DEPTH = 16;

function applyFile(host: string, text: string, file: string, options: ResolveConfigOptions, values: SshConfigValues, startActive: boolean, depth: number): void {
  // In an included file reached from an inactive block nothing can apply (OpenSSH's NEVERMATCH).
  let active = startActive;
  for (const line of parseSshConfig(text, file)) {
    const at = `${line.file}:${line.line}`;
    if (line.keyword === 'host') {
      active = startActive && matchesPatternList(host, line.args);
    } else if (line.keyword === 'match') {
      values.notes.push(`${at}: Match block skipped (ferry does not evaluate Match; use Host)`);
      active = false;
    } else if (line.keyword === 'include') {
      if (!active) continue;
      if (depth >= MAX_INCLUDE_DEPTH) throw new SshConfigError(host, 'Include nested too deeply', at);
      for (const path of line.args.flatMap((arg) => expandInclude(arg, options.includeDir, options.home))) {
        applyFile(host, readIfExists(path) ?? '', path, options, values, true, depth + 1);
      }
    } else if (active) {
      applyKeyword(line, values, at);
    }
  }
}

function applyKeyword({ keyword, args }: SshConfigLine, values: SshConfigValues, at: string): void {
  const first = args[0];
  if (first === undefined) throw new SshConfigError('config', `${keyword} needs a value`, at);
  switch (keyword) {
    case 'hostname': values.hostName ??= first; break;
    case 'user': values.user ??= first; break;
    case 'port': values.port ??= integer(first, at, 1, 65535); break;
    case 'identityfile': values.identityFiles.push(first); break;
    case 'identitiesonly': values.identitiesOnly ??= yesNo(first, at); break;
    case 'userknownhostsfile': values.userKnownHostsFiles ??= first === 'none' ? [] : args; break;
    case 'globalknownhostsfile': values.globalKnownHostsFiles ??= first === 'none' ? [] : args; break;
    case 'stricthostkeychecking': values.strictHostKeyChecking ??= hostKeyChecking(first, at); break;
    case 'connecttimeout': values.connectTimeoutSeconds ??= integer(first, at, 0); break;
    case 'serveraliveinterval': values.serverAliveIntervalSeconds ??= integer(first, at, 0); break;
    case 'serveralivecountmax': values.serverAliveCountMax ??= integer(first, at, 0); break;
    case 'identityagent': values.identityAgent ??= first; break;
    case 'hostkeyalias': values.hostKeyAlias ??= first; break;
    case 'proxyjump': values.proxyJump ??= first; break;
    case 'proxycommand': values.proxyCommand ??= args.join(' '); break;
    default: noteUnapplied(keyword, values, at);
  }
}

/**
 * Keywords that change how OpenSSH would reach or trust a host, which ferry's own
 * reader does not apply: named with what to do. Any other keyword (forwarding,
 * ciphers, logging, …) is named too, so nothing is skipped silently.
 */
const CHANGES_THE_CONNECTION = new Set(['canonicalizehostname', 'canonicaldomains', 'canonicalizefallbacklocal', 'canonicalizemaxdots', 'canonicalizepermittedcnames', 'addressfamily', 'bindaddress', 'bindinterface', 'certificatefile', 'hostkeyalgorithms', 'pubkeyacceptedalgorithms', 'pubkeyacceptedkeytypes', 'preferredauthentications', 'pubkeyauthentication', 'passwordauthentication', 'kbdinteractiveauthentication', 'hostbasedauthentication', 'gssapiauthentication', 'checkhostip', 'verifyhostkeydns', 'updatehostkeys', 'knownhostscommand', 'tag', 'controlmaster', 'controlpath', 'localcommand', 'remotecommand']);

function noteUnapplied(keyword: string, values: SshConfigValues, at: string): void {
  const why = CHANGES_THE_CONNECTION.has(keyword) ? ' (it changes how OpenSSH connects; install OpenSSH\'s ssh client so that ferry resolves hosts with `ssh -G`)' : '';
  values.notes.push(`${at}: ${keyword} not applied${why}`);
}

function integer(text: string, at: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new SshConfigError('config', `expected a number from ${min} to ${max}, got "${text}"`, at);
  return value;
}

function yesNo(text: string, at: string): boolean {
  const value = text.toLowerCase();
  if (value === 'yes' || value === 'true') return true;
  if (value === 'no' || value === 'false') return false;
  throw new SshConfigError('config', `expected yes or no, got "${text}"`, at);
}

function hostKeyChecking(text: string, at: string): 'yes' | 'no' | 'accept-new' | 'ask' {
  const value = text.toLowerCase();
  if (value === 'yes' || value === 'true') return 'yes';
  if (value === 'no' || value === 'off' || value === 'false') return 'no';
  if (value === 'accept-new' || value === 'ask') return value;
  throw new SshConfigError('config', `StrictHostKeyChecking must be yes, no, accept-new or ask, got "${text}"`, at);
}

/** Include paths: `~/` is the home; relative ones start at includeDir; `*`/`?` in any part is a glob (OpenSSH uses glob(3)). */
function expandInclude(arg: string, includeDir: string, home: string | undefined): string[] {
  const withHome = home !== undefined && arg.startsWith('~/') ? join(home, arg.slice(2)) : arg;
  const path = isAbsolute(withHome) ? withHome : join(includeDir, withHome);
  return expandGlob(path);
}

function expandGlob(path: string): string[] {
  const parts = path.split('/');
  const wild = parts.findIndex((part) => /[*?]/.test(part));
  if (wild < 0) return [path];
  const dir = parts.slice(0, wild).join('/') || '/';
  const pattern = parts[wild] ?? '';
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const rest = parts.slice(wild + 1);
  return names
    .filter((n) => matchesGlob(n, pattern) && !n.startsWith('.'))
    .sort()
    .flatMap((n) => (rest.length === 0 ? [join(dir, n)] : expandGlob(join(dir, n, ...rest))));
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SshConfigError('config', `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Values for OpenSSH's `%` tokens. */
export interface ConfigTokens {
  /** %h: the remote host name (after HostName). */
  host: string;
  /** %n: the name as given (maybe an alias). */
  originalHost: string;
  /** %r: the remote user. */
  remoteUser: string;
  /** %u: the local user. */
  localUser: string;
  /** %p */
  port: number;
  /** %d, and what `~` means. */
  home: string;
  /** %l: this machine's host name. */
  localHostName?: string;
  /** %i: the local user's uid. */
  uid?: number;
  /** %k: HostKeyAlias, else the host as given. */
  hostKeyAlias?: string;
  /** For `${VAR}`: the environment. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Expand `~`, `${VAR}` and the `%` tokens ferry supports (%h %n %r %u %p %d %% and,
 * when known, %l %L %i %k) in a path from a config file.
 *
 * @example
 * expandConfigPath('~/.ssh/id_%h', tokens) // => '/root/.ssh/id_10.0.0.1'
 */
export function expandConfigPath(text: string, tokens: ConfigTokens, where = 'config'): string {
  const table: Record<string, string | undefined> = {
    '%': '%', h: tokens.host, n: tokens.originalHost, r: tokens.remoteUser, u: tokens.localUser, p: String(tokens.port), d: tokens.home,
    l: tokens.localHostName, L: tokens.localHostName?.split('.')[0], i: tokens.uid?.toString(), k: tokens.hostKeyAlias,
  };
  const withTokens = text.replace(/%(.?)/g, (_, token: string) => {
    const value = table[token];
    if (value === undefined) throw new SshConfigError(tokens.originalHost, `unsupported token %${token} in "${text}" (ferry knows %h %n %r %u %p %d %l %L %i %k %%)`, where);
    return value;
  });
  const expanded = tokens.env === undefined ? withTokens : withTokens.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = tokens.env?.[name];
    if (value === undefined) throw new SshConfigError(tokens.originalHost, `\${${name}} in "${text}" is not set in the environment`, where);
    return value;
  });
  if (expanded === '~') return tokens.home;
  return expanded.startsWith('~/') ? join(tokens.home, expanded.slice(2)) : expanded;
}
