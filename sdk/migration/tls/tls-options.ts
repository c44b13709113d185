import { MigrationOptionsError } from '../migration-errors.ts';

/** libvirt's default credentials directory (qemu.conf `default_tls_x509_cert_dir`). */
export const DEFAULT_TLS_DIR = '/etc/pki/qemu';

/**
 * An encrypted migration stream, QEMU's TLS with x509 certificates.
 * `dir` holds, on each host, `ca-cert.pem`, `server-cert.pem` +
 * `server-key.pem` (used when the host receives), `client-cert.pem` +
 * `client-key.pem` (used when it sends); the same path on both hosts.
 */
export interface TlsOptions {
  /** The credentials directory on both hosts. Default: each host's `tlsDir` in ferry's config, else `/etc/pki/qemu`. */
  dir?: string;
  /** The name the destination's certificate must show. Default: the address ferry migrates to. */
  hostname?: string;
  /**
   * Accept only the intended source: `true` reads the subject of the
   * source's client certificate (with openssl on the source); a string is
   * that subject itself, as QEMU prints it (`O=ferry-lab,CN=a`).
   */
  authz?: boolean | string;
}

/** TLS as a migration will use it. */
export interface ResolvedTls {
  /** Given for both hosts; undefined: each host's own (see tlsDirOf). */
  dir: string | undefined;
  hostname: string | undefined;
  authz: boolean | string;
}

/** The `tls` option after defaults: false for a plain TCP stream. */
export function resolveTls(option: boolean | TlsOptions | undefined): ResolvedTls | false {
  if (option === undefined || option === false) return false;
  const given = option === true ? {} : option;
  const dir = given.dir;
  if (dir !== undefined && !dir.startsWith('/')) throw new MigrationOptionsError('tls.dir', `expected an absolute path on the hosts, got ${JSON.stringify(dir)}`);
  if (typeof given.authz === 'string' && !/^[A-Za-z]+=/.test(given.authz)) {
    throw new MigrationOptionsError('tls.authz', `expected the client certificate's subject such as "O=ferry-lab,CN=a", got ${JSON.stringify(given.authz)}`);
  }
  return { dir, hostname: given.hostname, authz: given.authz ?? false };
}

/** The credentials directory on one host: the migration's, else the host's config, else libvirt's default. */
export function tlsDirOf(tls: ResolvedTls, host: { config: { tlsDir?: string | undefined } }): string {
  return tls.dir ?? host.config.tlsDir ?? DEFAULT_TLS_DIR;
}

/** The JSON schema of the option (ajv), beside the others in migration-options.ts. */
export const TLS_OPTION_SCHEMA = {
  anyOf: [
    { type: 'boolean' },
    {
      type: 'object',
      additionalProperties: false,
      properties: {
        dir: { type: 'string', minLength: 1 },
        hostname: { type: 'string', minLength: 1 },
        authz: { anyOf: [{ type: 'boolean' }, { type: 'string', minLength: 1 }] },
      },
    },
  ],
} as const;
