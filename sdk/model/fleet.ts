import { createTransport, type HostTransport } from '../transport/index.ts';
import { parseConfig, defaultConfigFile, readConfigFile } from './config.ts';
import { DEFAULT_QEMU_BINARY, DEFAULT_RUN_DIR, type FerryConfig, type HostConfig } from './config-schema.ts';
import { UnknownHostError } from './model-errors.ts';

/** A host's config with every default filled in. */
export interface ResolvedHostConfig extends HostConfig {
  name: string;
  runDir: string;
  qemuBinary: string;
  tags: string[];
  maintenance: boolean;
}

/**
 * The configured hosts and one transport per host, shared by all work on
 * that host. The config comes from `configure()`, else from `FERRY_CONFIG`
 * or `./ferry.json`; a host called `local` exists even when not configured.
 */
export class Fleet {
  #config: FerryConfig | undefined;
  readonly #transports = new Map<string, HostTransport>();

  /** Replaces the config (validated) and closes transports of the old one. */
  configure(config: FerryConfig | unknown): void {
    const parsed = parseConfig(config);
    void this.close();
    this.#config = parsed;
  }

  /** Loads a config file (validated), replacing the current config. */
  configureFromFile(path: string): void {
    const parsed = readConfigFile(path);
    void this.close();
    this.#config = parsed;
  }

  get config(): FerryConfig {
    if (!this.#config) {
      const file = defaultConfigFile();
      this.#config = file ? readConfigFile(file) : { hosts: {} };
    }
    return this.#config;
  }

  hostNames(): string[] {
    return Object.keys(this.config.hosts);
  }

  /** The host's config with defaults; throws UnknownHostError for a name not configured. */
  hostConfig(name: string): ResolvedHostConfig {
    const config = this.config.hosts[name] ?? (name === 'local' ? { local: true } : undefined);
    if (!config) throw new UnknownHostError(name, this.hostNames());
    return {
      ...config,
      name,
      runDir: config.runDir ?? DEFAULT_RUN_DIR,
      qemuBinary: config.qemuBinary ?? DEFAULT_QEMU_BINARY,
      tags: config.tags ?? [],
      maintenance: config.maintenance ?? false,
    };
  }

  /** The one transport of a host, created on first use. */
  transport(name: string): HostTransport {
    const existing = this.#transports.get(name);
    if (existing) return existing;
    const config = this.hostConfig(name);
    const transport =
      config.local || !config.ssh
        ? createTransport('local')
        : createTransport({
            target: config.ssh,
            ...(config.sshConfig !== undefined && { configFile: config.sshConfig }),
            ...(config.knownHosts !== undefined && { knownHostsFiles: config.knownHosts }),
            ...(config.identityFiles !== undefined && { identityFiles: config.identityFiles }),
            ...(config.hostKeyPolicy !== undefined && { hostKeyPolicy: config.hostKeyPolicy }),
          });
    this.#transports.set(name, transport);
    return transport;
  }

  /** Closes every transport (SSH connections); the fleet can still be used and reconnects. */
  async close(): Promise<void> {
    const transports = [...this.#transports.values()];
    this.#transports.clear();
    await Promise.allSettled(transports.map((transport) => transport.close()));
  }
}

/** The fleet behind `host()` and `configure()`. */
export const defaultFleet = new Fleet();
