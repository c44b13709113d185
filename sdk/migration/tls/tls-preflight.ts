import type { Host } from '../../model/host.ts';
import { sh } from '../../transport/index.ts';
import type { MigrationContext } from '../migration-context.ts';
import type { PreflightCheck } from '../migration-errors.ts';
import { tlsSetupOf } from './tls-settings.ts';
import { tlsDirOf, type ResolvedTls } from './tls-options.ts';

/** The files QEMU's tls-creds-x509 reads, by the endpoint it plays (QEMU's crypto/tlscredsx509.h). */
export const TLS_FILES: Readonly<Record<'source' | 'destination', readonly string[]>> = {
  source: ['ca-cert.pem', 'client-cert.pem', 'client-key.pem'],
  destination: ['ca-cert.pem', 'server-cert.pem', 'server-key.pem'],
};

// openssl's RFC 2253 escaping in the certificate's own order (no dn_rev): how gnutls, and so QEMU's authz, prints a subject.
const SUBJECT_FORMAT = 'esc_2253,esc_ctrl,esc_msb,utf8,dump_nostr,dump_unknown,dump_der,sep_comma_plus,sname';

/** What one host's credentials directory looks like. */
export interface TlsFileFacts {
  missing: string[];
  unreadable: string[];
  expired: string[];
  /** The client certificate's subject (source, when asked for). */
  subject?: string;
  hasOpenssl: boolean;
}

/**
 * A fragment of a preflight probe (POSIX sh) that reports on the files the
 * host needs as `side`, one `tls-…` line each, and with `subject` the
 * client certificate's subject. Folded into a probe that already runs.
 */
export function tlsProbeScript(dir: string, side: 'source' | 'destination', subject = false): string {
  const certificate = side === 'source' ? 'client-cert.pem' : 'server-cert.pem';
  return sh`d=${dir}
for f in ${[...TLS_FILES[side]]}; do
  if [ ! -e "$d/$f" ]; then echo "tls-missing: $f"; elif [ ! -r "$d/$f" ]; then echo "tls-unreadable: $f"; fi
done
if command -v openssl >/dev/null 2>&1; then
  echo tls-openssl
  for f in ca-cert.pem ${certificate}; do
    [ -r "$d/$f" ] && ! openssl x509 -in "$d/$f" -noout -checkend 0 >/dev/null 2>&1 && echo "tls-expired: $f"
  done
  ${subject ? 'true' : 'false'} && [ -r "$d/client-cert.pem" ] && openssl x509 -in "$d/client-cert.pem" -noout -subject -nameopt ${SUBJECT_FORMAT} | sed 's/^subject=/tls-subject: /'
fi
true`;
}

export function readTlsProbe(stdout: string): TlsFileFacts {
  const lines = (tag: string) => [...stdout.matchAll(new RegExp(`^${tag}: (.*)$`, 'gm'))].map((match) => match[1] ?? '');
  const subject = lines('tls-subject')[0]?.trim();
  return {
    missing: lines('tls-missing'),
    unreadable: lines('tls-unreadable'),
    expired: lines('tls-expired'),
    ...(subject && { subject }),
    hasOpenssl: /^tls-openssl$/m.test(stdout),
  };
}

/** The source's share of the probe: its own round trip (preflight asks the source nothing else by shell). */
export async function probeTlsSrc(source: Host, tls: ResolvedTls, options: { signal?: AbortSignal } = {}): Promise<TlsFileFacts> {
  const { stdout } = await source.transport.shell(tlsProbeScript(tlsDirOf(tls, source), 'source', tls.authz === true), options);
  return readTlsProbe(stdout);
}

/** Preflight checks from one host's facts, each naming the host and file to fix. */
export function tlsChecks(host: string, side: 'source' | 'destination', tls: ResolvedTls, dir: string, facts: TlsFileFacts): PreflightCheck[] {
  const role = side === 'source' ? 'as the source (TLS client)' : 'as the destination (TLS server)';
  const problems = [
    ...facts.missing.map((file) => `${dir}/${file} is missing`),
    ...facts.unreadable.map((file) => `${dir}/${file} is not readable`),
    ...facts.expired.map((file) => `${dir}/${file} has expired`),
  ];
  const checks: PreflightCheck[] = [{
    check: `tls-credentials-${side}`,
    ok: problems.length === 0,
    message: problems.length === 0 ? `${host} has its TLS credentials in ${dir}` : `${host} needs ${TLS_FILES[side].join(', ')} in ${dir} ${role}: ${problems.join(', ')}`,
  }];
  if (side === 'source' && tls.authz === true && facts.missing.length === 0 && !facts.subject) {
    checks.push({
      check: 'tls-authz-identity',
      ok: false,
      message: facts.hasOpenssl
        ? `cannot read the subject of ${dir}/client-cert.pem on ${host}`
        : `${host} has no openssl to read the subject of ${dir}/client-cert.pem: install openssl there, or give tls.authz as that subject (e.g. "O=ferry-lab,CN=${host}")`,
    });
  }
  return checks;
}

/**
 * TLS's preflight verdict from both hosts' probes; when all is there, it
 * settles what the migration will use (context.tls): the name the
 * destination must show (the option, else the address ferry migrates to)
 * and the source's identity for authz.
 */
export function preflightTls(context: MigrationContext, source: TlsFileFacts | undefined, destination: TlsFileFacts | undefined): PreflightCheck[] {
  const tls = context.options.tls;
  if (!tls) return [];
  const checks: PreflightCheck[] = [];
  const dirs = { source: tlsDirOf(tls, context.source), destination: tlsDirOf(tls, context.destination) };
  if (source) checks.push(...tlsChecks(context.source.name, 'source', tls, dirs.source, source));
  if (destination) checks.push(...tlsChecks(context.destination.name, 'destination', tls, dirs.destination, destination));
  if (checks.every((check) => check.ok)) {
    const clientIdentity = typeof tls.authz === 'string' ? tls.authz : source?.subject;
    context.tls = tlsSetupOf(tls, { hostname: tls.hostname ?? context.destination.migrationAddress, dirs, ...(tls.authz !== false && clientIdentity && { clientIdentity }) });
  }
  return checks;
}

/**
 * QEMU refuses TLS with multifd's zero-copy-send ("Zero copy only available
 * for non-compressed non-TLS multifd migration"). ferry never turns it on,
 * but another tool may have on this VM: say so before anything moves.
 */
export async function zeroCopyChecksSrc(context: MigrationContext): Promise<PreflightCheck[]> {
  if (!context.options.tls || !context.srcQmp) return [];
  const capabilities = await context.srcQmp.execute('query-migrate-capabilities', {}, { signal: context.signal });
  const zeroCopy = capabilities.some((capability) => capability.capability === 'zero-copy-send' && capability.state);
  return zeroCopy ? [{ check: 'tls-zero-copy', ok: false, message: `${context.vm.label} has zero-copy-send on, which QEMU refuses with TLS: turn it off (migrate-set-capabilities) or migrate without tls` }] : [];
}
