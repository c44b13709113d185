import type { MigrationParameters, QomObjectArgs } from '../../qmp/index.ts';
import { DEFAULT_TLS_DIR, type ResolvedTls } from './tls-options.ts';

/**
 * The ids of the objects ferry adds, the same on both sides as libvirt's
 * alias: the NBD server (destination) and client (source) reuse the
 * credentials under this id.
 */
export const TLS_CREDS_ID = 'ferry-tls-creds';
export const TLS_AUTHZ_ID = 'ferry-tls-authz';

/** What TLS needs that only preflight knows: the name the destination's certificate must show, and who the source is. */
export interface TlsInputs {
  hostname: string;
  /** The credentials directory on each host. */
  dirs: { source: string; destination: string };
  /** The subject of the source's client certificate, as QEMU matches it (authz: true). */
  clientIdentity?: string;
}

/** What a migration with TLS set up on the two QEMUs: the object ids for whoever reuses them (NBD). */
export interface TlsSetup extends TlsInputs {
  /** The tls-creds-x509 object on each side (endpoint=client on the source, server on the destination). */
  credsId: { source: string; destination: string };
  /** The authz-simple object on the destination, when only the intended source is accepted. */
  authzId?: string;
}

/** TLS's share of one side's settings: objects to add first, then parameters. */
export interface TlsSideSettings {
  objects: QomObjectArgs[];
  parameters: Partial<MigrationParameters>;
}

/**
 * The objects and parameters TLS needs on `side`, from the verified QEMU 7.2
 * sequence. Without TLS the source's tls-creds and tls-hostname are set to ''
 * all the same (libvirt does so too): a VM that once arrived by a TLS
 * migration keeps tls-creds, and its next plain migration would fail on it.
 */
export function tlsSettings(tls: ResolvedTls | false, side: 'source' | 'destination', inputs: TlsInputs | undefined, sourceName = 'the source'): TlsSideSettings {
  if (!tls) return side === 'source' ? { objects: [], parameters: { 'tls-creds': '', 'tls-hostname': '' } } : { objects: [], parameters: {} };
  const dir = inputs?.dirs[side] ?? tls.dir ?? DEFAULT_TLS_DIR;
  if (side === 'source') {
    return {
      objects: [{ 'qom-type': 'tls-creds-x509', id: TLS_CREDS_ID, dir, endpoint: 'client', 'verify-peer': true }],
      parameters: { 'tls-creds': TLS_CREDS_ID, 'tls-hostname': tls.hostname ?? inputs?.hostname ?? '' },
    };
  }
  const objects: QomObjectArgs[] = [{ 'qom-type': 'tls-creds-x509', id: TLS_CREDS_ID, dir, endpoint: 'server', 'verify-peer': true }];
  const parameters: Partial<MigrationParameters> = { 'tls-creds': TLS_CREDS_ID };
  if (tls.authz !== false) {
    const identity = typeof tls.authz === 'string' ? tls.authz : inputs?.clientIdentity ?? `(the subject of ${inputs?.dirs.source ?? tls.dir ?? DEFAULT_TLS_DIR}/client-cert.pem on ${sourceName}, read in preflight)`;
    objects.push({ 'qom-type': 'authz-simple', id: TLS_AUTHZ_ID, identity });
    parameters['tls-authz'] = TLS_AUTHZ_ID;
  }
  return { objects, parameters };
}

/** Where the objects' ids live once set up (for the migration context and the NBD step). */
export function tlsSetupOf(tls: ResolvedTls, inputs: TlsInputs): TlsSetup {
  return {
    ...inputs,
    hostname: tls.hostname ?? inputs.hostname,
    ...(typeof tls.authz === 'string' && { clientIdentity: tls.authz }),
    credsId: { source: TLS_CREDS_ID, destination: TLS_CREDS_ID },
    ...(tls.authz !== false && { authzId: TLS_AUTHZ_ID }),
  };
}

/**
 * The disk copy rides the same credentials (libvirt's one alias): the
 * destination's NBD server takes the server's x509 object and the authz,
 * so only the intended source may write the disks.
 */
export function nbdServerTls(setup: TlsSetup | undefined): { 'tls-creds'?: string; 'tls-authz'?: string } {
  if (!setup) return {};
  return { 'tls-creds': setup.credsId.destination, ...(setup.authzId && { 'tls-authz': setup.authzId }) };
}

/** The source's NBD client: its own x509 object, checking the destination by the same name as the migration. */
export function nbdClientTls(setup: TlsSetup | undefined): { 'tls-creds'?: string; 'tls-hostname'?: string } {
  if (!setup) return {};
  return { 'tls-creds': setup.credsId.source, 'tls-hostname': setup.hostname };
}
