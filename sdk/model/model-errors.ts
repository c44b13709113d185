import { FerryError } from '../ferry-error.ts';

/** The config (file or `configure()`) is not valid; `field` is a JSON pointer to what is wrong. */
export class ConfigError extends FerryError {
  readonly file: string | undefined;
  readonly field: string;
  constructor(message: string, field: string, file?: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', file ? `${file}: ${message}` : message, options);
    this.field = field;
    this.file = file;
  }
}

/** No host of that name is configured. */
export class UnknownHostError extends FerryError {
  readonly host: string;
  readonly knownHosts: string[];
  constructor(host: string, knownHosts: string[]) {
    super('UNKNOWN_HOST', `unknown host '${host}'; configured hosts: ${knownHosts.length ? knownHosts.join(', ') : 'none (see configure() or ferry.json)'}`);
    this.host = host;
    this.knownHosts = knownHosts;
  }
}

/** No VM of that name on that host (no QMP socket and pid file in its runDir, or its QEMU is gone). */
export class VmNotFoundError extends FerryError {
  readonly host: string;
  readonly vm: string;
  constructor(host: string, vm: string, detail: string) {
    super('VM_NOT_FOUND', `no VM '${vm}' on host '${host}': ${detail}`);
    this.host = host;
    this.vm = vm;
  }
}

/** A host or VM name that ferry cannot use as a file name in a runDir. */
export class InvalidNameError extends FerryError {
  readonly kind: 'host' | 'vm';
  readonly value: string;
  constructor(kind: 'host' | 'vm', value: string, why: string) {
    super('INVALID_NAME', `invalid ${kind} name ${JSON.stringify(value)}: ${why}`);
    this.kind = kind;
    this.value = value;
  }
}

/** `launch()` of a VM whose name already runs on that host. */
export class VmAlreadyRunningError extends FerryError {
  readonly host: string;
  readonly vm: string;
  constructor(host: string, vm: string) {
    super('VM_ALREADY_RUNNING', `a VM called '${vm}' already runs on host '${host}'`);
    this.host = host;
    this.vm = vm;
  }
}

/** QEMU did not start; `reason` is the last line it printed. */
export class VmLaunchError extends FerryError {
  readonly host: string;
  readonly vm: string;
  readonly reason: string;
  constructor(host: string, vm: string, reason: string) {
    super('VM_LAUNCH_FAILED', `QEMU did not start '${vm}' on host '${host}': ${reason}`);
    this.host = host;
    this.vm = vm;
    this.reason = reason;
  }
}
