import type { MigrationInfo } from '../../qmp/index.ts';
import type { MigrationContext } from '../migration-context.ts';
import { MigrationError, type VmLocation } from '../migration-errors.ts';
import type { MigrationPhase } from '../migration-phase.ts';

/** Why the TLS handshake refused the other side. */
export type TlsFailure = 'hostname-mismatch' | 'untrusted-certificate' | 'authz-denied' | 'handshake-failed' | 'credentials-refused';

/**
 * A TLS migration refused by a certificate check: the destination's name or
 * CA, or the source's identity. Nothing was migrated; like every migration
 * error it says where the VM runs (read from QEMU on both hosts).
 */
export class MigrationTlsError extends MigrationError {
  readonly failure: TlsFailure;
  /** What QEMU said (the source's error-desc, or the destination's log line). */
  readonly qemuMessage: string;

  constructor(
    failure: TlsFailure,
    details: { vm: string; source: string; destination: string; phase: MigrationPhase; vmState: VmLocation },
    message: string,
    qemuMessage: string,
    options?: { cause?: unknown },
  ) {
    super('MIGRATION_TLS_REFUSED', details, message, options);
    this.failure = failure;
    this.qemuMessage = qemuMessage;
  }
}

// Less than this sent when the link broke: the stream never got past its TLS handshake.
const HANDSHAKE_BYTES = 1024 ** 2;

/** Reads a failed TLS migration from QEMU's words on both sides; undefined when it is not a TLS failure. */
export function tlsFailureOf(sourceError: string, destinationLog: string, authz = false): { failure: Exclude<TlsFailure, 'credentials-refused'>; qemuMessage: string } | undefined {
  const denied = /TLS x509 authz check for (.*) is denied/.exec(destinationLog);
  if (denied) return { failure: 'authz-denied', qemuMessage: denied[0] };
  if (/does not match the hostname/i.test(sourceError)) return { failure: 'hostname-mismatch', qemuMessage: sourceError };
  if (/not trusted|signer not found|untrusted|issuer/i.test(sourceError)) return { failure: 'untrusted-certificate', qemuMessage: sourceError };
  const destinationTls = /^.*(TLS|certificate).*$/im.exec(destinationLog)?.[0];
  if (destinationTls && /not trusted|signer not found|untrusted|issuer/i.test(destinationTls)) return { failure: 'untrusted-certificate', qemuMessage: destinationTls.trim() };
  // A daemonized destination logs its authz refusal nowhere ferry can read: the source sees
  // only its channel closed mid-handshake (7.2: "Cannot write to TLS channel", 10.0: "Connection
  // reset by peer", or "Broken pipe" when its write comes after the close), which with authz on and
  // nothing sent yet is most likely that refusal.
  if (authz && /TLS channel|Connection reset by peer|Broken pipe/i.test(sourceError)) return { failure: 'authz-denied', qemuMessage: sourceError };
  if (/TLS|handshake|certificate/i.test(sourceError)) return { failure: 'handshake-failed', qemuMessage: sourceError };
  if (destinationTls) return { failure: 'handshake-failed', qemuMessage: destinationTls.trim() };
  return undefined;
}

/** The typed error for a TLS migration QEMU reports failed, if TLS refused it. */
export async function tlsMigrationError(context: MigrationContext, info: MigrationInfo): Promise<MigrationTlsError | undefined> {
  const tls = context.tls;
  if (!tls) return undefined;
  // The source sees only a broken channel when the destination refused it: ask the destination
  // (its incoming side's error-desc), and its guard's stderr (a QEMU that was not daemonized).
  const incoming = await context.dstQmp?.execute('query-migrate', {}, { timeoutMs: 2000 }).catch(() => undefined);
  const found = tlsFailureOf(info['error-desc'] ?? '', `${incoming?.['error-desc'] ?? ''}\n${context.dstGuard?.stderr ?? ''}`, tls.authzId !== undefined && (info.ram?.transferred ?? 0) < HANDSHAKE_BYTES);
  if (!found) return undefined;
  const { source, destination } = context;
  const why: Record<Exclude<TlsFailure, 'credentials-refused'>, string> = {
    'hostname-mismatch': `${destination.name}'s certificate (${tls.dirs.destination}/server-cert.pem) does not name "${tls.hostname}": give the name it shows as tls.hostname, or reissue it with that name`,
    'untrusted-certificate': `${destination.name}'s certificate is not signed by the CA ${source.name} trusts (${tls.dirs.source}/ca-cert.pem), or ${source.name}'s is not signed by the one ${destination.name} trusts (${tls.dirs.destination}/ca-cert.pem)`,
    'authz-denied': `${destination.name} closed the handshake: it accepts only the source "${tls.clientIdentity ?? '?'}" (tls.authz), and ${source.name}'s client certificate (${tls.dirs.source}/client-cert.pem) is not that one, or is not signed by the CA ${destination.name} trusts`,
    'handshake-failed': `the TLS handshake between ${source.name} and ${destination.name} failed`,
  };
  const details = { vm: context.vm.name, source: source.name, destination: destination.name, phase: context.phase, vmState: 'unknown' as const };
  return new MigrationTlsError(found.failure, details, `TLS refused the migration: ${why[found.failure]} (QEMU: ${found.qemuMessage})`, found.qemuMessage);
}

/** The same error, once rollback read where the VM is. */
export function relocatedTlsError(error: MigrationTlsError, details: { vm: string; source: string; destination: string; phase: MigrationPhase; vmState: VmLocation }, message: string): MigrationTlsError {
  return new MigrationTlsError(error.failure, details, message, error.qemuMessage, { cause: error });
}
