// @ts-types="npm:@types/ssh2@^1.15.5"
import type { ServerHostKeyAlgorithm } from 'ssh2';
import { appendKnownHost, findHostKeys, fingerprintOf, keyTypeOf, knownHostName, readKnownHosts, type KnownHostEntry } from './known-hosts.ts';
import type { SshSettings } from './ssh-settings.ts';
import { HostKeyMismatchError, HostKeyRevokedError, HostKeyUnknownError } from './transport-errors.ts';

/** OpenSSH's preference among the host key algorithms ssh2 also speaks (no SHA-1 ssh-rsa, no DSA). */
const ALGORITHM_ORDER: readonly ServerHostKeyAlgorithm[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];

/**
 * The host key algorithms to offer a server whose known keys have these types, in
 * OpenSSH's order, so that the server presents a key we can check (as OpenSSH does).
 * An `ssh-rsa` key is used with the rsa-sha2 signatures.
 *
 * @example
 * hostKeyAlgorithmsFor(['ssh-rsa', 'ssh-ed25519']) // => ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256']
 */
export function hostKeyAlgorithmsFor(keyTypes: readonly string[]): ServerHostKeyAlgorithm[] {
  return ALGORITHM_ORDER.filter((algorithm) => keyTypes.includes(algorithm.startsWith('rsa-sha2-') ? 'ssh-rsa' : algorithm));
}

/** A host key check prepared for one connection attempt. */
export interface HostKeyCheck {
  /** What to offer as `algorithms.serverHostKey`; undefined leaves ssh2's default (host unknown). */
  algorithms: ServerHostKeyAlgorithm[] | undefined;
  /** Accepts the presented key blob or throws the typed error saying why not (writes it first under accept-new). */
  verify(keyBlob: Buffer): Promise<void>;
  notes: string[];
}

/**
 * Read the known_hosts files for `settings` and build the check for its next connection.
 *
 * @example
 * const check = await prepareHostKeyCheck(settings);
 * await check.verify(keyBlobFromServer);
 */
export async function prepareHostKeyCheck(settings: SshSettings): Promise<HostKeyCheck> {
  const known = findHostKeys(await readKnownHosts(settings.knownHostsFiles), settings.hostKeyName, settings.port);
  const offered = hostKeyAlgorithmsFor(known.trusted.map((entry) => entry.keyType));
  const restrict = settings.hostKeyPolicy !== 'insecure-accept-any' && offered.length > 0;
  return {
    algorithms: restrict ? offered : undefined,
    notes: known.notes,
    async verify(keyBlob) {
      if (settings.hostKeyPolicy === 'insecure-accept-any') return;
      const fingerprint = fingerprintOf(keyBlob);
      const revoked = known.revoked.find((entry) => entry.keyBlob.equals(keyBlob));
      if (revoked) throw new HostKeyRevokedError(settings.label, fingerprint, `${revoked.file}:${revoked.line}`);
      if (known.trusted.some((entry) => entry.keyBlob.equals(keyBlob))) return;
      const keyType = keyTypeOf(keyBlob);
      const stale = known.trusted.find((entry) => entry.keyType === keyType) ?? known.trusted[0];
      if (stale) throw mismatch(settings, stale, keyType, fingerprint);
      if (settings.hostKeyPolicy === 'accept-new' && settings.knownHostsWriteFile) {
        await appendKnownHost(settings.knownHostsWriteFile, settings.hostKeyName, settings.port, keyType, keyBlob);
        // Trusted from now on, so that a re-key on this connection does not write it twice.
        known.trusted.push({ file: settings.knownHostsWriteFile, line: 0, marker: null, names: settings.hostKeyName, keyType, keyBlob });
        return;
      }
      throw unknown(settings, keyType, fingerprint);
    },
  };
}

function unknown(settings: SshSettings, keyType: string, fingerprint: string): HostKeyUnknownError {
  const name = knownHostName(settings.hostKeyName, settings.port);
  const file = settings.knownHostsWriteFile ?? '~/.ssh/known_hosts';
  const searched = settings.knownHostsFiles.join(', ') || 'no known_hosts file';
  const message =
    `The authenticity of host '${name}' can't be established: no key for it in ${searched}. ` +
    `It offered the ${displayType(keyType)} key ${fingerprint}. After verifying that fingerprint with the host's administrator, run\n` +
    `  ssh-keyscan -p ${settings.port} -t ${keyType} ${settings.host} >> ${file}\n` +
    `or pass hostKeyPolicy: 'accept-new' to trust the key on first use.`;
  return new HostKeyUnknownError(settings.label, { fingerprint, keyType, message });
}

function mismatch(settings: SshSettings, stale: KnownHostEntry, keyType: string, fingerprint: string): HostKeyMismatchError {
  const name = knownHostName(settings.hostKeyName, settings.port);
  const knownAt = `${stale.file}:${stale.line}`;
  const message =
    `WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for ${name}! Someone could be eavesdropping on you right now ` +
    `(man-in-the-middle attack), or the host key has just been changed. The host offered the ${displayType(keyType)} key ${fingerprint}, ` +
    `which differs from the key at ${knownAt} (${fingerprintOf(stale.keyBlob)}). If the change is expected, remove the old key with\n` +
    `  ssh-keygen -f '${stale.file}' -R '${name}'\n` +
    `and add the new one after verifying it. Refusing to connect.`;
  return new HostKeyMismatchError(settings.label, { fingerprint, keyType, knownAt, message });
}

function displayType(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ED25519';
  if (keyType.startsWith('ecdsa-')) return 'ECDSA';
  if (keyType === 'ssh-rsa') return 'RSA';
  return keyType;
}
