import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { debianFiles, debianKernelAppend, type DebianGuestSpec } from './debian-guest.ts';
import { formatQemuVersions, labSettings, type LabSettings } from './lab-settings.ts';
import { killPid, processAlive, readPidFile, waitFor } from './lab-processes.ts';

const run = promisify(execFile);

/** Where each lab host sees its own local storage (`Lab.privateDir`); every other path is shared. */
export const LOCAL_STORAGE_PATH = '/srv/ferry-host';

/** How a lab guest is shaped. */
export interface GuestSpec {
  memoryMiB?: number;
  /** Memory the workload keeps dirtying, and how fast (MB/s); 0 = idle. */
  dirtyMiB?: number;
  dirtyRateMBps?: number;
  /** Start the QEMU waiting for an incoming migration (`-incoming` value) instead of booting. */
  incoming?: string;
  /** Last octet of the guest's address (default: derived from the name). */
  addressOctet?: number;
  /** A virtio disk the workload writes verifiable records to (see disk-records.ts). */
  disk?: GuestDisk;
  /**
   * A second QMP socket, `<runDir>/<vm>.watch.mon`, for an observer: QEMU
   * serves one client per socket, and ferry holds the first for the whole
   * migration (LAB.md). Its name is a runtime file, so ferry moves it along.
   */
  watchMonitor?: boolean;
  /** More QEMU options, appended (benchmarks: `-msg timestamp=on`, `-trace`, `-D`); a destination ferry starts copies them. */
  qemuArgs?: string[];
}

/**
 * The guest's disk: `-drive file=PATH,format=…,if=virtio,cache=…,id=disk0`,
 * with no node-name (ferry must find the real one in query-block). The lab
 * creates the image when it is missing, except for an `incoming` guest,
 * whose image is the migration's business.
 */
export interface GuestDisk {
  path: string;
  /** Size of a created image (default 64 MiB). */
  sizeMiB?: number;
  format?: 'qcow2' | 'raw';
  /** QEMU's cache mode (default `none`: O_DIRECT on the host, as shared storage needs). */
  cache?: string;
  /** `-blockdev` nodes and a `-device` instead of one `-drive`. */
  blockdev?: boolean;
  /** Records (4 KiB, each written with O_DIRECT|O_DSYNC) per second; 0 = verify on boot, write nothing (default 20). */
  recordsPerSecond?: number;
}

export interface LabVm {
  host: string;
  name: string;
  pid: number;
  address: string;
  qmpSocket: string;
  argv: string[];
}

/**
 * The running lab: hosts as network namespaces with their own sshd, and
 * helpers to boot guests on them by ferry's convention
 * (`<runDir>/<vm>.qmp`, `<runDir>/<vm>.pid`).
 */
export class Lab {
  readonly settings: LabSettings;

  constructor(settings: LabSettings = labSettings()) {
    this.settings = settings;
  }

  get stateDir(): string {
    return join(this.settings.runRoot, 'lab');
  }
  get sshConfigFile(): string {
    return join(this.stateDir, 'ssh_config');
  }
  get knownHostsFile(): string {
    return join(this.stateDir, 'known_hosts');
  }
  get identityFile(): string {
    return join(this.stateDir, 'id_ed25519');
  }
  get callerAddress(): string {
    return `${this.settings.subnet}.1`;
  }

  runDir(host: string): string {
    return join(this.settings.runRoot, host);
  }

  /**
   * The host's TLS credentials as this process sees them (make-pki.sh), in
   * libvirt's layout; inside the host they are /etc/pki/qemu. `otherCa`: a
   * whole PKI of a second CA, which no other host trusts.
   */
  pkiDir(host: string, otherCa = false): string {
    return join(this.runDir(host), otherCa ? 'pki-other-ca' : 'pki');
  }

  hostAddress(host: string): string {
    const index = this.settings.hosts.indexOf(host);
    if (index < 0) throw new Error(`lab: no host ${host} (hosts: ${this.settings.hosts.join(', ')})`);
    return `${this.settings.subnet}.${11 + index}`;
  }

  namespace(host: string): string {
    this.hostAddress(host);
    return `${this.settings.prefix}-${host}`;
  }

  /**
   * Creates a guest disk's image on `host` unless it exists (a second boot,
   * or a test's own image, keeps its data): made inside the host's mount
   * namespace, so a path under its local storage lands there.
   */
  async createDiskImage(host: string, disk: GuestDisk): Promise<void> {
    const script = '[ -e "$1" ] || qemu-img create -q -f "$2" "$1" "$3"';
    await this.runOnHost(host, ['sh', '-c', script, 'sh', disk.path, disk.format ?? 'qcow2', `${disk.sizeMiB ?? 64}M`]);
  }

  /** The bind-mounted file that keeps `host`'s mount namespace alive (lab.sh makes it). */
  mountNamespaceFile(host: string): string {
    this.hostAddress(host);
    return join(this.stateDir, 'ns', host);
  }

  /**
   * `host`'s local storage as the test process sees it: inside the host this
   * directory is `/srv/ferry-host` (LOCAL_STORAGE_PATH), and no other host sees it there.
   */
  privateDir(host: string): string {
    return join(this.runDir(host), 'private');
  }

  /**
   * `argv` run on `host` without SSH: in its network and mount namespaces, so
   * it sees the same files as a process ferry starts there over SSH.
   */
  hostCommand(host: string, argv: readonly string[]): string[] {
    return ['nsenter', `--net=/run/netns/${this.namespace(host)}`, `--mount=${this.mountNamespaceFile(host)}`, '--', ...argv];
  }

  /** Runs `argv` on `host` without SSH (see `hostCommand`) and returns its output. */
  async runOnHost(host: string, argv: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    const [, ...args] = this.hostCommand(host, argv);
    return await run('nsenter', args, { maxBuffer: 16 << 20 });
  }

  /** The ferry config for this lab: every host reached over SSH through the lab's ssh_config. */
  ferryConfig(): { hosts: Record<string, { ssh: string; sshConfig: string; runDir: string; migrationAddress: string; tlsDir?: string }> } {
    const hosts: Record<string, { ssh: string; sshConfig: string; runDir: string; migrationAddress: string; tlsDir?: string }> = {};
    for (const host of this.settings.hosts) {
      // No tlsDir: each host sees its own PKI at /etc/pki/qemu (make-pki.sh), as a real host would.
      hosts[host] = { ssh: host, sshConfig: this.sshConfigFile, runDir: this.runDir(host), migrationAddress: this.hostAddress(host) };
    }
    return { hosts };
  }

  /** Builds the guest if needed and brings the hosts up (idempotent). */
  async up(): Promise<this> {
    await this.#script('build-guest.sh');
    await this.#script('lab.sh', 'up');
    await this.#script('make-pki.sh');
    return this;
  }

  /** Stops every VM and sshd the lab started and removes its namespaces (idempotent). */
  async down(): Promise<void> {
    await this.#script('lab.sh', 'down');
  }

  /**
   * Makes `host`'s QEMU `version` ("10.0", or "7.2": the system's) for every
   * process started there from now on (use-qemu.sh in the host's mount
   * namespace; VMs already running keep theirs). Installs the version first if needed.
   */
  async useQemu(host: string, version: string): Promise<void> {
    this.hostAddress(host);
    if (version !== (await systemQemuVersion())) await this.#script('install-qemu.sh', version);
    await this.runOnHost(host, ['sh', join(this.settings.scriptsDir, 'use-qemu.sh'), version]);
  }

  /** The version of `qemu-system-x86_64` a process started on `host` runs, e.g. "10.0.2". */
  async qemuVersion(host: string): Promise<string> {
    return parseQemuVersion((await this.runOnHost(host, ['qemu-system-x86_64', '--version'])).stdout);
  }

  /**
   * Guest RAM as a `-m` value: the round size where every lab host's QEMU
   * tracks TCG's dirty pages on its fast path (9.0 and later), else 8 KiB
   * over it (see offRoundMemory). A guest may move to any host, so all of
   * them count, as they run now (use-qemu.sh can switch one).
   */
  async guestMemory(mib: number): Promise<string> {
    const versions = await Promise.all(this.settings.hosts.map((host) => this.qemuVersion(host)));
    return versions.every((version) => Number(version.split('.')[0]) >= 9) ? `${mib}M` : offRoundMemory(mib);
  }

  /** QEMU's acceleration: KVM only where a guest really runs on it (LAB.md: /dev/kvm alone is not enough). */
  async accelerator(): Promise<'kvm' | 'tcg'> {
    if (!existsSync('/dev/kvm')) return 'tcg';
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
    return /\b(vmx|svm)\b/.test(cpuinfo) ? 'kvm' : 'tcg';
  }

  guestAddress(name: string, spec: GuestSpec = {}): string {
    const octet = spec.addressOctet ?? 100 + (hash(name) % 150);
    return `${this.settings.subnet}.${octet}`;
  }

  /** The QEMU command line of a lab guest, following ferry's runDir convention. */
  async guestArgv(host: string, name: string, spec: GuestSpec = {}): Promise<string[]> {
    const runDir = this.runDir(host);
    const argv = [
      'qemu-system-x86_64', '-name', name, ...(await this.guestMachineArgs(host, name, spec)),
      '-qmp', `unix:${runDir}/${name}.qmp,server=on,wait=off`,
      '-pidfile', `${runDir}/${name}.pid`, '-daemonize',
    ];
    if (spec.watchMonitor) argv.push('-qmp', `unix:${this.watchSocket(host, name)},server=on,wait=off`);
    if (spec.incoming) argv.push('-incoming', spec.incoming);
    return argv;
  }

  /** The observer's QMP socket of a guest started with `watchMonitor`. */
  watchSocket(host: string, name: string): string {
    return `${this.runDir(host)}/${name}.watch.mon`;
  }

  /** The guest's own QEMU options: machine, kernel, console, NIC (without ferry's convention). */
  async guestMachineArgs(host: string, name: string, spec: GuestSpec = {}): Promise<string[]> {
    const runDir = this.runDir(host);
    const address = this.guestAddress(name, spec);
    const octet = Number(address.split('.').at(-1));
    const append = [
      'console=ttyS0', 'quiet', 'panic=-1',
      // pti=on keeps QEMU 7.2's TCG on the dirty-tracking path (LAB.md).
      'pti=on',
      `ferry.ip=${address}/24`,
      `ferry.dirty_mb=${spec.dirtyMiB ?? 0}`,
      `ferry.dirty_rate=${spec.dirtyRateMBps ?? 0}`,
      ...(spec.disk ? ['ferry.disk=vda', `ferry.disk_rate=${spec.disk.recordsPerSecond ?? 20}`] : []),
    ].join(' ');
    return [
      '-accel', await this.accelerator(), '-machine', 'pc', '-m', await this.guestMemory(spec.memoryMiB ?? 512), '-smp', '1',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', join(this.settings.guestDir, 'vmlinux'), '-initrd', join(this.settings.guestDir, 'initramfs.cpio'),
      '-append', append,
      '-chardev', `file,id=console,path=${runDir}/${name}.console`, '-serial', 'chardev:console',
      '-netdev', `tap,id=net0,script=${this.settings.runRoot}/qemu-ifup,downscript=no`,
      '-device', `virtio-net-pci,netdev=net0,mac=52:54:00:fe:00:${octet.toString(16).padStart(2, '0')},romfile=`,
      ...(spec.disk ? diskOptions(spec.disk) : []),
      ...(spec.qemuArgs ?? []),
    ];
  }

  /**
   * Boots a guest on `host` (inside its namespace, so its tap joins that
   * host's bridge) and waits until its workload reports ready.
   */
  async startVm(host: string, name: string, spec: GuestSpec = {}): Promise<LabVm> {
    const runDir = this.runDir(host);
    await rm(`${runDir}/${name}.console`, { force: true });
    if (spec.disk && !spec.incoming) await this.createDiskImage(host, spec.disk);
    const argv = await this.guestArgv(host, name, spec);
    await this.runOnHost(host, argv);
    const pid = await waitFor(`${name}'s pid file`, () => readPidFile(`${runDir}/${name}.pid`), 10_000);
    const vm = { host, name, pid, address: this.guestAddress(name, spec), qmpSocket: `${runDir}/${name}.qmp`, argv };
    if (!spec.incoming) await this.waitReady(host, name);
    return vm;
  }

  /** Waits for the workload's "ready" line on the guest's console (it has populated its memory). */
  async waitReady(host: string, name: string, timeoutMs = 90_000): Promise<void> {
    const consoleFile = `${this.runDir(host)}/${name}.console`;
    await waitFor(`${host}/${name} to report ready`, async () => {
      const text = await readFile(consoleFile, 'utf8').catch(() => '');
      if (text.includes('ferry-workload: ready')) return true;
      if (text.includes('Kernel panic') || text.includes('workload exited') || text.includes('ferry-disk: failed')) throw new Error(`lab: ${host}/${name} failed to boot:\n${text.slice(-2000)}`);
      return undefined;
    }, timeoutMs, 200);
  }

  /** Builds the Debian 12 guest if needed (cached: a few seconds unless an input changed; about 3 min cold). */
  async buildDebianGuest(): Promise<void> {
    await this.#script('build-debian-guest.sh');
  }

  debianAddress(name: string, spec: DebianGuestSpec = {}): string {
    return this.guestAddress(name, { addressOctet: spec.addressOctet });
  }

  /** Where a Debian guest's root disk is, as its host sees it: the spec's, else on the host's local storage. */
  debianDiskPath(host: string, name: string, spec: DebianGuestSpec = {}): string {
    return spec.disk?.path ?? `${LOCAL_STORAGE_PATH}/${name}.qcow2`;
  }

  /** A path as `host` sees it, as this process sees it: local storage maps to `privateDir(host)`, the rest is shared. */
  pathSeenHere(host: string, path: string): string {
    return path === LOCAL_STORAGE_PATH || path.startsWith(`${LOCAL_STORAGE_PATH}/`) ? this.privateDir(host) + path.slice(LOCAL_STORAGE_PATH.length) : path;
  }

  /** The QEMU command line of a lab Debian guest, following ferry's runDir convention. */
  async debianGuestArgv(host: string, name: string, spec: DebianGuestSpec = {}): Promise<string[]> {
    const runDir = this.runDir(host);
    const argv = [
      'qemu-system-x86_64', '-name', name, ...(await this.debianMachineArgs(host, name, spec)),
      '-qmp', `unix:${runDir}/${name}.qmp,server=on,wait=off`,
      '-pidfile', `${runDir}/${name}.pid`, '-daemonize',
    ];
    if (spec.incoming) argv.push('-incoming', spec.incoming);
    return argv;
  }

  /** The Debian guest's own QEMU options: machine, kernel, console, NIC, root disk (without ferry's convention). */
  async debianMachineArgs(host: string, name: string, spec: DebianGuestSpec = {}): Promise<string[]> {
    const runDir = this.runDir(host);
    const address = this.debianAddress(name, spec);
    const octet = Number(address.split('.').at(-1));
    const files = debianFiles(join(this.settings.guestDir, '..'));
    const disk: GuestDisk = { path: this.debianDiskPath(host, name, spec), format: 'qcow2', cache: spec.disk?.cache ?? 'none', blockdev: spec.disk?.blockdev ?? false };
    return [
      '-accel', await this.accelerator(), '-machine', 'pc', '-m', await this.guestMemory(spec.memoryMiB ?? 1024), '-smp', String(spec.cpus ?? 1),
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', files.kernel, '-initrd', files.initrd, '-append', debianKernelAppend(address, spec),
      '-chardev', `file,id=console,path=${runDir}/${name}.console`, '-serial', 'chardev:console',
      '-netdev', `tap,id=net0,script=${this.settings.runRoot}/qemu-ifup,downscript=no`,
      '-device', `virtio-net-pci,netdev=net0,mac=52:54:00:fe:00:${octet.toString(16).padStart(2, '0')},romfile=`,
      ...diskOptions(disk),
      ...(spec.pvpanic ? ['-device', 'pvpanic'] : []),
      ...(spec.qemuArgs ?? []),
    ];
  }

  /**
   * Boots a Debian 12 guest on `host` (building the image first if needed)
   * and waits until its services are up. Its root disk is a full copy of
   * the built base, made when missing: a second boot keeps its data.
   */
  async startDebianVm(host: string, name: string, spec: DebianGuestSpec = {}): Promise<LabVm> {
    await this.buildDebianGuest();
    const runDir = this.runDir(host);
    await rm(`${runDir}/${name}.console`, { force: true });
    const disk = this.debianDiskPath(host, name, spec);
    // Copied on the host, in its mount namespace: a path under its local storage lands there.
    const base = debianFiles(join(this.settings.guestDir, '..')).base;
    if (!spec.incoming) await this.runOnHost(host, ['sh', '-c', '[ -e "$1" ] || cp --sparse=always "$2" "$1"', 'sh', disk, base]);
    const argv = await this.debianGuestArgv(host, name, spec);
    await this.runOnHost(host, argv);
    const pid = await waitFor(`${name}'s pid file`, () => readPidFile(`${runDir}/${name}.pid`), 10_000);
    const vm = { host, name, pid, address: this.debianAddress(name, spec), qmpSocket: `${runDir}/${name}.qmp`, argv };
    if (!spec.incoming) await this.waitDebianReady(host, name);
    return vm;
  }

  /** Waits for the Debian guest's "ferry-debian: ready" line (its services are up). */
  async waitDebianReady(host: string, name: string, timeoutMs = 180_000): Promise<void> {
    const consoleFile = `${this.runDir(host)}/${name}.console`;
    await waitFor(`${host}/${name} (Debian) to report ready`, async () => {
      const text = await readFile(consoleFile, 'utf8').catch(() => '');
      if (text.includes('ferry-debian: ready')) return true;
      if (/Kernel panic|Failed to start|emergency mode/.test(text)) throw new Error(`lab: ${host}/${name} failed to boot:\n${text.slice(-3000)}`);
      return undefined;
    }, timeoutMs, 250);
  }

  /** The last lines the guest printed on `host`'s console (for failure messages). */
  async consoleTail(host: string, name: string, lines = 15): Promise<string> {
    const text = await readFile(`${this.runDir(host)}/${name}.console`, 'utf8').catch(() => '(no console file)');
    return text.split('\n').slice(-lines).join('\n');
  }

  /** The pid of `name` on `host` if its QEMU is running. */
  async vmPid(host: string, name: string): Promise<number | undefined> {
    const pid = await readPidFile(`${this.runDir(host)}/${name}.pid`);
    return pid !== undefined && (await processAlive(pid)) ? pid : undefined;
  }

  /** Ends `name` on `host` by its pid file and removes its files. */
  async stopVm(host: string, name: string): Promise<void> {
    const runDir = this.runDir(host);
    const pid = await readPidFile(`${runDir}/${name}.pid`);
    if (pid !== undefined) await killPid(pid);
    for (const suffix of ['pid', 'qmp', 'console', 'watch.mon']) await rm(`${runDir}/${name}.${suffix}`, { force: true });
  }

  async #script(name: string, ...args: string[]): Promise<void> {
    const env = {
      ...process.env,
      FERRY_LAB_PREFIX: this.settings.prefix,
      FERRY_LAB_SUBNET: this.settings.subnet,
      FERRY_LAB_HOSTS: this.settings.hosts.join(' '),
      FERRY_LAB_RUN: this.settings.runRoot,
      FERRY_LAB_DIR: join(this.settings.guestDir, '..'),
      FERRY_LAB_QEMU: formatQemuVersions(this.settings.qemu),
    };
    try {
      await run('bash', [join(this.settings.scriptsDir, name), ...args], { env, maxBuffer: 16 << 20 });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`lab: ${name} ${args.join(' ')} failed: ${stderr.trim() || String(error)}`);
    }
  }
}

/**
 * A guest disk's options: one `-drive` (the path quoted for QEMU's option
 * parser: a comma doubles), or with `blockdev` the modern form libvirt and
 * Proxmox use: a file node, a format node, and the virtio device on it.
 */
function diskOptions(disk: GuestDisk): string[] {
  const path = disk.path.replaceAll(',', ',,');
  const format = disk.format ?? 'qcow2';
  if (!disk.blockdev) return ['-drive', `file=${path},format=${format},if=virtio,cache=${disk.cache ?? 'none'},id=disk0`];
  const direct = (disk.cache ?? 'none') === 'none' ? 'on' : 'off';
  return [
    '-blockdev', `driver=file,filename=${path},node-name=disk0-file,cache.direct=${direct}`,
    '-blockdev', `driver=${format},file=disk0-file,node-name=disk0-format,cache.direct=${direct}`,
    '-device', 'virtio-blk-pci,drive=disk0-format,id=disk0',
  ];
}

/**
 * Guest RAM as a `-m` value, 8 KiB over the round size. QEMU 7.2's dirty
 * bitmap sync takes a fast path for a RAM block whose length is a multiple
 * of 64 pages, and that path forgets to reset TCG's TLB, so the guest's
 * writes through cached TLB entries go untracked and are lost in migration
 * (fixed upstream in 9.0: "physmem: Fix migration dirty bitmap coherency
 * with TCG memory access"; LAB.md). A length off that multiple takes the
 * per-page path, which resets the TLB. KVM does not need it.
 *
 * That path is dear: it resets every vCPU's TLB for each dirty page, with
 * the BQL held. On QEMU 10.0 the busy 2-vCPU, 1 GiB guest's syncs took
 * 3–20 s of the migration thread's CPU (its /proc state R throughout, both
 * vCPUs waiting on a futex): the guest froze (a soft lockup), QMP went
 * unanswered (a migration that moved no byte for 15 s), and each long pass
 * let the guest dirty its whole buffer again. So only where needed.
 */
function offRoundMemory(mib: number): string {
  return `${mib * 1024 + 8}K`;
}

/** "10.0.2" from `qemu-system-x86_64 --version`'s first line. */
function parseQemuVersion(output: string): string {
  const version = /QEMU emulator version (\d+\.\d+\.\d+)/.exec(output)?.[1];
  if (!version) throw new Error(`lab: no QEMU version in: ${output.slice(0, 200)}`);
  return version;
}

/** The machine's own QEMU (Debian 12: 7.2), as MAJOR.MINOR. */
async function systemQemuVersion(): Promise<string> {
  const { stdout } = await run('qemu-system-x86_64', ['--version']);
  return parseQemuVersion(stdout).split('.').slice(0, 2).join('.');
}

function hash(text: string): number {
  let value = 0;
  for (const char of text) value = (value * 31 + char.charCodeAt(0)) >>> 0;
  return value;
}
