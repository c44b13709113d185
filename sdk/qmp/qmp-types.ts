// Typed QMP commands, replies and events for QEMU 7.2 (Debian 12), from
// qapi/*.json. Only what ferry uses is typed; `executeUnchecked` covers the
// rest. Replies are trusted, not validated: optional fields are optional
// because QEMU omits them depending on state, not because we are unsure.

/** Arguments of a command that takes none. */
export type NoArgs = Record<string, never>;
/** What commands that return nothing interesting return. */
export type EmptyReturn = Record<string, never>;

// ---- greeting and basics ---------------------------------------------------

export interface QemuVersion {
  qemu: { major: number; minor: number; micro: number };
  /** Distribution build, e.g. 'Debian 1:7.2+dfsg-7+deb12u6'. */
  package: string;
}

/** The first line QEMU sends: `{"QMP": {"version": …, "capabilities": ["oob"]}}`. */
export interface QmpGreeting {
  QMP: { version: QemuVersion; capabilities: string[] };
}

export type RunState =
  | 'debug' | 'inmigrate' | 'internal-error' | 'io-error' | 'paused' | 'postmigrate' | 'prelaunch'
  | 'finish-migrate' | 'restore-vm' | 'running' | 'save-vm' | 'shutdown' | 'suspended' | 'watchdog'
  | 'guest-panicked' | 'colo';

/** `singlestep` was deprecated in 8.1 and is gone from 10.0's reply. */
export interface StatusInfo { running: boolean; singlestep?: boolean; status: RunState }

// ---- migration ---------------------------------------------------------------

/** Every MigrationStatus of QEMU 7.2 to 10.0 (`postcopy-recover-setup` arrived in 9.1). */
export type MigrationStatus =
  | 'none' | 'setup' | 'cancelling' | 'cancelled' | 'active' | 'postcopy-active' | 'postcopy-paused'
  | 'postcopy-recover-setup' | 'postcopy-recover' | 'completed' | 'failed' | 'colo' | 'pre-switchover' | 'device' | 'wait-unplug';

/** RAM statistics; byte counts unless named otherwise. */
export interface MigrationStats {
  transferred: number;
  remaining: number;
  total: number;
  /** Zero pages. */
  duplicate: number;
  normal: number;
  'normal-bytes': number;
  'dirty-pages-rate': number;
  /** Megabits per second. */
  mbps: number;
  'dirty-sync-count': number;
  'postcopy-requests': number;
  'page-size': number;
  'multifd-bytes': number;
  'pages-per-second': number;
  'precopy-bytes': number;
  'downtime-bytes': number;
  'postcopy-bytes': number;
  'dirty-sync-missed-zero-copy': number;
}

export interface XbzrleCacheStats {
  'cache-size': number;
  bytes: number;
  pages: number;
  'cache-miss': number;
  'cache-miss-rate': number;
  'encoding-rate': number;
  overflow: number;
}

export interface CompressionStats {
  pages: number;
  busy: number;
  'busy-rate': number;
  'compressed-size': number;
  'compression-rate': number;
}

/** `query-migrate`; times in milliseconds. `{}` before the first migration. */
export interface MigrationInfo {
  status?: MigrationStatus;
  ram?: MigrationStats;
  disk?: MigrationStats;
  vfio?: { transferred: number };
  'xbzrle-cache'?: XbzrleCacheStats;
  compression?: CompressionStats;
  'total-time'?: number;
  'expected-downtime'?: number;
  downtime?: number;
  'setup-time'?: number;
  'cpu-throttle-percentage'?: number;
  'error-desc'?: string;
  'blocked-reasons'?: string[];
  'postcopy-blocktime'?: number;
  'postcopy-vcpu-blocktime'?: number[];
  'socket-address'?: SocketAddress[];
}

/**
 * MigrationCapability of QEMU 7.2 to 10.0: `compress` and `block` exist only
 * before 9.1 (removed); `switchover-ack` and `dirty-limit` since 8.1,
 * `mapped-ram` since 9.0. ferry sets none of the version-bound ones.
 */
export type MigrationCapability =
  | 'xbzrle' | 'rdma-pin-all' | 'auto-converge' | 'zero-blocks' | 'compress' | 'events' | 'postcopy-ram'
  | 'x-colo' | 'release-ram' | 'block' | 'return-path' | 'pause-before-switchover' | 'multifd'
  | 'dirty-bitmaps' | 'postcopy-blocktime' | 'late-block-activate' | 'x-ignore-shared' | 'validate-uuid'
  | 'background-snapshot' | 'zero-copy-send' | 'postcopy-preempt' | 'switchover-ack' | 'dirty-limit' | 'mapped-ram';

export interface MigrationCapabilityStatus { capability: MigrationCapability; state: boolean }

export type MultiFdCompression = 'none' | 'zlib' | 'zstd';

export interface BitmapMigrationNodeAlias {
  'node-name': string;
  alias: string;
  bitmaps: Array<{ name: string; alias: string; transform?: { persistent?: boolean } }>;
}

/**
 * MigrationParameters of QEMU 7.2 as `query-migrate-parameters` returns them.
 * Bandwidths in bytes/s, times in ms, throttles in percent.
 */
export interface MigrationParameters {
  'announce-initial': number;
  'announce-max': number;
  'announce-rounds': number;
  'announce-step': number;
  'compress-level': number;
  'compress-threads': number;
  'compress-wait-thread': boolean;
  'decompress-threads': number;
  'throttle-trigger-threshold': number;
  'cpu-throttle-initial': number;
  'cpu-throttle-increment': number;
  'cpu-throttle-tailslow': boolean;
  'tls-creds': string;
  'tls-hostname': string;
  'tls-authz'?: string;
  'max-bandwidth': number;
  'downtime-limit': number;
  /** Since QEMU 8.2: bytes/s QEMU plans its switchover with instead of its own reading (0: its own). */
  'avail-switchover-bandwidth'?: number;
  'x-checkpoint-delay': number;
  'block-incremental': boolean;
  'multifd-channels': number;
  'xbzrle-cache-size': number;
  'max-postcopy-bandwidth': number;
  'max-cpu-throttle': number;
  'multifd-compression': MultiFdCompression;
  'multifd-zlib-level': number;
  'multifd-zstd-level': number;
  'block-bitmap-mapping'?: BitmapMigrationNodeAlias[];
}

/** `migrate-set-parameters`: any subset; TLS strings may be reset with null. */
export type MigrateSetParameters = Partial<Omit<MigrationParameters, 'tls-creds' | 'tls-hostname' | 'tls-authz'>> & {
  'tls-creds'?: string | null;
  'tls-hostname'?: string | null;
  'tls-authz'?: string | null;
};

export type DirtyRateMeasureMode = 'page-sampling' | 'dirty-ring' | 'dirty-bitmap';

export interface DirtyRateInfo {
  /** MB/s; present once measured. */
  'dirty-rate'?: number;
  status: 'unstarted' | 'measuring' | 'measured';
  'start-time': number;
  /** Seconds. */
  'calc-time': number;
  'sample-pages': number;
  mode: DirtyRateMeasureMode;
  'vcpu-dirty-rate'?: Array<{ id: number; 'dirty-rate': number }>;
}

// ---- block -------------------------------------------------------------------

export type SocketAddress =
  | { type: 'inet'; host: string; port: string; numeric?: boolean; ipv4?: boolean; ipv6?: boolean }
  | { type: 'unix'; path: string }
  | { type: 'vsock'; cid: string; port: string }
  | { type: 'fd'; str: string };

/** The older nested form some commands (nbd-server-start) still take. */
export type SocketAddressLegacy =
  | { type: 'inet'; data: { host: string; port: string; numeric?: boolean; ipv4?: boolean; ipv6?: boolean } }
  | { type: 'unix'; data: { path: string } }
  | { type: 'vsock'; data: { cid: string; port: string } }
  | { type: 'fd'; data: { str: string } };

export interface BlockDeviceInfo {
  file: string;
  'node-name'?: string;
  ro: boolean;
  drv: string;
  backing_file?: string;
  backing_file_depth: number;
  encrypted: boolean;
  detect_zeroes: 'off' | 'on' | 'unmap';
  image: { filename: string; format: string; 'virtual-size': number; 'actual-size'?: number; 'dirty-flag'?: boolean };
  cache: { writeback: boolean; direct: boolean; 'no-flush': boolean };
  write_threshold: number;
}

export interface BlockInfo {
  device: string;
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  inserted?: BlockDeviceInfo;
  tray_open?: boolean;
  'io-status'?: 'ok' | 'failed' | 'nospace';
}

export type JobStatus =
  | 'undefined' | 'created' | 'running' | 'paused' | 'ready' | 'standby' | 'waiting' | 'pending'
  | 'aborting' | 'concluded' | 'null';

export interface BlockJobInfo {
  type: string;
  device: string;
  len: number;
  offset: number;
  busy: boolean;
  paused: boolean;
  speed: number;
  'io-status': 'ok' | 'failed' | 'nospace';
  ready: boolean;
  status: JobStatus;
  'auto-finalize': boolean;
  'auto-dismiss': boolean;
  error?: string;
}

export type MirrorSyncMode = 'top' | 'full' | 'none' | 'incremental' | 'bitmap';
export type BlockdevOnError = 'report' | 'ignore' | 'enospc' | 'stop' | 'auto';

interface MirrorCommon {
  'job-id'?: string;
  device: string;
  replaces?: string;
  sync: MirrorSyncMode;
  /** Bytes per second; 0 = unlimited. */
  speed?: number;
  granularity?: number;
  'buf-size'?: number;
  'on-source-error'?: BlockdevOnError;
  'on-target-error'?: BlockdevOnError;
  'copy-mode'?: 'background' | 'write-blocking';
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
}

export interface BlockdevMirrorArgs extends MirrorCommon { target: string; 'filter-node-name'?: string }
export interface DriveMirrorArgs extends MirrorCommon {
  target: string;
  format?: string;
  'node-name'?: string;
  mode?: 'existing' | 'absolute-paths';
  unmap?: boolean;
}

export interface BlockExportAddNbdArgs {
  type: 'nbd';
  id: string;
  'node-name': string;
  writable?: boolean;
  writethrough?: boolean;
  iothread?: string;
  name?: string;
  description?: string;
  bitmaps?: string[];
  'allocation-depth'?: boolean;
}

/** An NBD client node (the source's end of a storage copy). */
export interface BlockdevAddNbdArgs {
  driver: 'nbd';
  'node-name': string;
  server: SocketAddress;
  export?: string;
  'tls-creds'?: string;
  'tls-hostname'?: string;
  'reconnect-delay'?: number;
}

// ---- objects -----------------------------------------------------------------

/** `object-add` for the objects ferry adds: x509 TLS credentials and an authz list (QEMU 7.2's flat form). */
export type QomObjectArgs =
  | { 'qom-type': 'tls-creds-x509'; id: string; dir: string; endpoint: 'server' | 'client'; 'verify-peer'?: boolean }
  | { 'qom-type': 'authz-simple'; id: string; identity: string };

// ---- machine -----------------------------------------------------------------

export interface CpuInfoFast {
  'cpu-index': number;
  'qom-path': string;
  'thread-id': number;
  props?: { 'node-id'?: number; 'socket-id'?: number; 'core-id'?: number; 'thread-id'?: number };
  target: string;
}

export interface MachineInfo {
  name: string;
  alias?: string;
  'is-default'?: boolean;
  'cpu-max': number;
  'hotpluggable-cpus': boolean;
  'numa-mem-supported': boolean;
  deprecated: boolean;
  'default-cpu-type'?: string;
  'default-ram-id'?: string;
}

export interface CpuDefinitionInfo {
  name: string;
  'migration-safe'?: boolean;
  static: boolean;
  'unavailable-features'?: string[];
  typename: string;
  'alias-of'?: string;
  deprecated: boolean;
}

// ---- the command map ---------------------------------------------------------

/** QMP command name -> its arguments and its reply (`return` member). */
export interface QmpCommandMap {
  qmp_capabilities: { args: { enable?: string[] }; returns: EmptyReturn };
  'query-status': { args: NoArgs; returns: StatusInfo };
  'query-version': { args: NoArgs; returns: QemuVersion };
  'query-commands': { args: NoArgs; returns: Array<{ name: string }> };
  'query-name': { args: NoArgs; returns: { name?: string } };
  'query-kvm': { args: NoArgs; returns: { enabled: boolean; present: boolean } };
  stop: { args: NoArgs; returns: EmptyReturn };
  cont: { args: NoArgs; returns: EmptyReturn };
  /** QEMU may close the socket before replying; the client treats that as success. */
  quit: { args: NoArgs; returns: EmptyReturn };
  system_powerdown: { args: NoArgs; returns: EmptyReturn };
  'query-migrate': { args: NoArgs; returns: MigrationInfo };
  'query-migrate-capabilities': { args: NoArgs; returns: MigrationCapabilityStatus[] };
  'migrate-set-capabilities': { args: { capabilities: MigrationCapabilityStatus[] }; returns: EmptyReturn };
  'query-migrate-parameters': { args: NoArgs; returns: MigrationParameters };
  'migrate-set-parameters': { args: MigrateSetParameters; returns: EmptyReturn };
  migrate: {
    args: { uri: string; blk?: boolean; inc?: boolean; detach?: boolean; resume?: boolean };
    returns: EmptyReturn;
  };
  'migrate-incoming': { args: { uri: string }; returns: EmptyReturn };
  migrate_cancel: { args: NoArgs; returns: EmptyReturn };
  /** Continue from a pause state (e.g. 'pre-switchover'). */
  'migrate-continue': { args: { state: MigrationStatus }; returns: EmptyReturn };
  'migrate-start-postcopy': { args: NoArgs; returns: EmptyReturn };
  /** Destination, post-copy paused: listen again for the source's `migrate resume:true`. */
  'migrate-recover': { args: { uri: string }; returns: EmptyReturn };
  /** Source, post-copy active: pause both sides (recoverable). */
  'migrate-pause': { args: NoArgs; returns: EmptyReturn };
  'calc-dirty-rate': {
    args: { 'calc-time': number; 'sample-pages'?: number; mode?: DirtyRateMeasureMode };
    returns: EmptyReturn;
  };
  'query-dirty-rate': { args: NoArgs; returns: DirtyRateInfo };
  'query-block': { args: NoArgs; returns: BlockInfo[] };
  'query-block-jobs': { args: NoArgs; returns: BlockJobInfo[] };
  'block-job-cancel': { args: { device: string; force?: boolean }; returns: EmptyReturn };
  'blockdev-mirror': { args: BlockdevMirrorArgs; returns: EmptyReturn };
  'drive-mirror': { args: DriveMirrorArgs; returns: EmptyReturn };
  'nbd-server-start': {
    args: { addr: SocketAddressLegacy; 'tls-creds'?: string; 'tls-authz'?: string; 'max-connections'?: number };
    returns: EmptyReturn;
  };
  /** Deprecated since 5.2 in favour of block-export-add, still present in 7.2. */
  'nbd-server-add': {
    args: { device: string; name?: string; description?: string; writable?: boolean; bitmap?: string };
    returns: EmptyReturn;
  };
  'block-export-add': { args: BlockExportAddNbdArgs; returns: EmptyReturn };
  /** `hard` drops connected clients at once; the default (`safe`) fails while one is connected. */
  'block-export-del': { args: { id: string; mode?: 'safe' | 'hard' }; returns: EmptyReturn };
  'query-block-exports': { args: NoArgs; returns: Array<{ id: string; type: string; 'node-name': string; 'shutting-down': boolean }> };
  'blockdev-add': { args: BlockdevAddNbdArgs; returns: EmptyReturn };
  'blockdev-del': { args: { 'node-name': string }; returns: EmptyReturn };
  'block-job-set-speed': { args: { device: string; speed: number }; returns: EmptyReturn };
  'job-dismiss': { args: { id: string }; returns: EmptyReturn };
  'nbd-server-stop': { args: NoArgs; returns: EmptyReturn };
  /** Adds a QOM object (TLS credentials, an authz list, …) to a running QEMU. */
  'object-add': { args: QomObjectArgs; returns: EmptyReturn };
  'object-del': { args: { id: string }; returns: EmptyReturn };
  'query-cpus-fast': { args: NoArgs; returns: CpuInfoFast[] };
  'query-memory-size-summary': { args: NoArgs; returns: { 'base-memory': number; 'plugged-memory'?: number } };
  'query-machines': { args: NoArgs; returns: MachineInfo[] };
  'query-cpu-definitions': { args: NoArgs; returns: CpuDefinitionInfo[] };
  'human-monitor-command': { args: { 'command-line': string; 'cpu-index'?: number }; returns: string };
}

export type QmpCommandName = keyof QmpCommandMap;

// ---- events ------------------------------------------------------------------

export interface QmpTimestamp { seconds: number; microseconds: number }

export type ShutdownCause =
  | 'none' | 'host-error' | 'host-qmp-quit' | 'host-qmp-system-reset' | 'host-signal' | 'host-ui'
  | 'guest-shutdown' | 'guest-reset' | 'guest-panic' | 'subsystem-reset' | 'snapshot-load';

type BlockJobEventData = { type: string; device: string; len: number; offset: number; speed: number };

/** Event name -> its `data` member (`undefined` for events that carry none). */
export interface QmpEventMap {
  MIGRATION: { status: MigrationStatus };
  MIGRATION_PASS: { pass: number };
  STOP: undefined;
  RESUME: undefined;
  SHUTDOWN: { guest: boolean; reason: ShutdownCause };
  POWERDOWN: undefined;
  RESET: { guest: boolean; reason: ShutdownCause };
  BLOCK_JOB_READY: BlockJobEventData;
  BLOCK_JOB_COMPLETED: BlockJobEventData & { error?: string };
  BLOCK_JOB_CANCELLED: BlockJobEventData;
  BLOCK_JOB_ERROR: { device: string; operation: 'read' | 'write'; action: 'ignore' | 'report' | 'stop' };
  JOB_STATUS_CHANGE: { id: string; status: JobStatus };
  UNPLUG_PRIMARY: { 'device-id': string };
}

export type QmpEventName = keyof QmpEventMap;

/** An event QEMU sent; `data` is typed for known names. */
export type QmpEvent<K extends QmpEventName = QmpEventName> = {
  [N in K]: { event: N; data: QmpEventMap[N]; timestamp: QmpTimestamp };
}[K];

/** Any event, including ones this file does not type. */
export interface QmpAnyEvent {
  event: string;
  data?: Record<string, unknown> | undefined;
  timestamp: QmpTimestamp;
}
