import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { matchesPatternList } from './host-patterns.ts';

/** One key line of an OpenSSH known_hosts file. */
export interface KnownHostEntry {
  file: string;
  /** 1-based. */
  line: number;
  marker: 'revoked' | 'cert-authority' | null;
  /** The names field as written: "host1,host2", "[h]:2222" or a hashed "|1|salt|hash". */
  names: string;
  keyType: string;
  /** The key in SSH wire format (the base64 field, decoded). */
  keyBlob: Buffer;
}

/** What the known_hosts files say about one host:port. */
export interface KnownHostKeys {
  /** Keys trusted for the host (no marker). */
  trusted: KnownHostEntry[];
  /** Keys marked `@revoked` (a revoked key is refused whatever host it is presented by). */
  revoked: KnownHostEntry[];
  /** Lines that applied but ferry does not act on, such as `@cert-authority`. */
  notes: string[];
}

/**
 * The name known_hosts uses for a host: the bare name on port 22, `[name]:port` elsewhere.
 *
 * @example
 * knownHostName('10.0.0.1', 2222) // => '[10.0.0.1]:2222'
 */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * Parse the text of a known_hosts file; comments, blank and malformed lines are skipped (as OpenSSH does).
 *
 * @example
 * parseKnownHosts('web1 ssh-ed25519 AAAAC3Nza...\n', '/root/.ssh/known_hosts')
 */
export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority';
      fields.shift();
    }
    const [names, keyType, base64] = fields;
    if (names === undefined || keyType === undefined || base64 === undefined || !/^[A-Za-z0-9+/]+=*$/.test(base64)) return;
    entries.push({ file, line: index + 1, marker, names, keyType, keyBlob: Buffer.from(base64, 'base64') });
  });
  return entries;
}

/**
 * Read and parse known_hosts files; a file that does not exist counts as empty.
 *
 * @example
 * const entries = await readKnownHosts(['/root/.ssh/known_hosts']);
 */
export async function readKnownHosts(files: readonly string[]): Promise<KnownHostEntry[]> {
  const texts = await Promise.all(files.map((file) => readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  })));
  return texts.flatMap((text, i) => parseKnownHosts(text, files[i] ?? ''));
}

/**
 * The entries that apply to host:port, sorted into trusted, revoked and ignored.
 *
 * @example
 * const { trusted } = findHostKeys(entries, '10.0.0.1', 22);
 */
export function findHostKeys(entries: readonly KnownHostEntry[], host: string, port: number): KnownHostKeys {
  const name = knownHostName(host, port);
  const found: KnownHostKeys = { trusted: [], revoked: [], notes: [] };
  for (const entry of entries) {
    // OpenSSH's @revoked applies to the key wherever it appears, whatever names the line has.
    if (entry.marker === 'revoked') found.revoked.push(entry);
    else if (!namesMatch(entry.names, name)) continue;
    else if (entry.marker === 'cert-authority') found.notes.push(`${entry.file}:${entry.line}: @cert-authority ignored (ferry does not verify host certificates)`);
    else found.trusted.push(entry);
  }
  return found;
}

/** Does a known_hosts names field (plain patterns or one hashed name) cover `name`? */
export function namesMatch(names: string, name: string): boolean {
  if (names.startsWith('|1|')) {
    const [, , salt, hash] = names.split('|');
    if (salt === undefined || hash === undefined) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return matchesPatternList(name, names.split(','));
}

/**
 * A hashed names field for `name`, as `ssh-keygen -H` writes it.
 *
 * @example
 * hashHostName('[10.0.0.1]:2222') // => '|1|salt|hash'
 */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

/**
 * Append a key for host:port to a known_hosts file, creating it (and its folder) if needed.
 *
 * @example
 * await appendKnownHost('/root/.ssh/known_hosts', '10.0.0.1', 22, 'ssh-ed25519', blob);
 */
export async function appendKnownHost(file: string, host: string, port: number, keyType: string, keyBlob: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const existing = await readFile(file, 'utf8').catch(() => '');
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
  const line = `${knownHostName(host, port)} ${keyType} ${Buffer.from(keyBlob).toString('base64')}\n`;
  await appendFile(file, separator + line, { mode: 0o600 });
}

/**
 * The key type written inside an SSH wire-format key blob ("ssh-ed25519").
 *
 * @example
 * keyTypeOf(blob) // => 'ssh-ed25519'
 */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/**
 * The fingerprint OpenSSH shows for a key: "SHA256:" and unpadded base64.
 *
 * @example
 * fingerprintOf(blob) // => 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s'
 */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}
