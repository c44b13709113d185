/** How ferry reaches one host and where its VMs live. */
export interface HostConfig {
  /**
   * The SSH target: `user@host:port`, `host`, or an alias from the SSH config
   * file. Absent (or `local: true`): the machine ferry runs on, no SSH.
   */
  ssh?: string;
  local?: boolean;
  /** SSH client config file (default `~/.ssh/config`). */
  sshConfig?: string;
  /** known_hosts files (default: as the SSH config says, else `~/.ssh/known_hosts`). */
  knownHosts?: string[];
  identityFiles?: string[];
  /** `strict` (default) refuses unknown keys; `accept-new` records them, as OpenSSH's option. */
  hostKeyPolicy?: 'strict' | 'accept-new';
  /** Where VMs keep `<vm>.qmp` and `<vm>.pid` (default `/run/ferry`). */
  runDir?: string;
  /** The address this host's QEMU listens on for incoming migrations (default: the SSH host name). */
  migrationAddress?: string;
  /** The QEMU binary ferry launches there (default `qemu-system-x86_64`). */
  qemuBinary?: string;
  /**
   * This host's TLS credentials directory for `tls` migrations (libvirt's
   * `migrate_tls_x509_cert_dir`; default `/etc/pki/qemu`). A migration's own
   * `tls.dir` overrides it on both hosts.
   */
  tlsDir?: string;
  /** Free-form tags, e.g. `anti-affinity:db` or `rack:2`. */
  tags?: string[];
  /** A host in maintenance receives no VMs. */
  maintenance?: boolean;
  /**
   * The most guest RAM placement may put on this host, all its VMs together:
   * bytes, or a string such as `'8GiB'`. Default: only its free memory limits it.
   */
  memoryBudget?: number | string;
}

export interface FerryConfig {
  hosts: Record<string, HostConfig>;
  /** Anti-affinity groups: group name → VM names, no two of which may run on one host. */
  antiAffinity?: Record<string, string[]>;
}

const hostName = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
const absolutePath = '^/';
const memorySize = '^\\s*\\d+(\\.\\d+)?\\s*([KMGT]i?B|B)?\\s*$';

/** The JSON Schema of a ferry config file (`FERRY_CONFIG`, else `./ferry.json`). */
export const ferryConfigSchema = {
  $id: 'https://ferry.dev/schema/config.json',
  type: 'object',
  additionalProperties: false,
  required: ['hosts'],
  properties: {
    $schema: { type: 'string' },
    hosts: {
      type: 'object',
      propertyNames: { pattern: hostName },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ssh: { type: 'string', minLength: 1 },
          local: { type: 'boolean' },
          sshConfig: { type: 'string', minLength: 1 },
          knownHosts: { type: 'array', items: { type: 'string', minLength: 1 } },
          identityFiles: { type: 'array', items: { type: 'string', minLength: 1 } },
          hostKeyPolicy: { enum: ['strict', 'accept-new'] },
          runDir: { type: 'string', pattern: absolutePath },
          migrationAddress: { type: 'string', minLength: 1 },
          qemuBinary: { type: 'string', minLength: 1 },
          tlsDir: { type: 'string', pattern: absolutePath },
          tags: { type: 'array', items: { type: 'string', minLength: 1 } },
          maintenance: { type: 'boolean' },
          memoryBudget: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: memorySize }] },
        },
      },
    },
    antiAffinity: {
      type: 'object',
      additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true },
    },
  },
} as const;

export const DEFAULT_RUN_DIR = '/run/ferry';
export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';
