// What a user writes against the installed package; only compiled (strict tsc), never run.
import {
  configure, definePolicy, host, hosts, MigrationError, PreflightError,
  type EvacuationReport, type MigrationOptions, type MigrationResult,
} from 'ferry';

configure({ hosts: { a: { ssh: 'root@10.0.0.1', runDir: '/run/ferry' }, b: { ssh: 'kvm-b', tags: ['rack:2'] } } });

const options: MigrationOptions = {
  maxDowntime: 300,
  bandwidth: '1GiB/s',
  policy: definePolicy('patient', ({ passes }) => (passes.length > 30 ? [{ type: 'cancel', reason: 'too slow' }] : [])),
};

export async function moveWeb(signal: AbortSignal): Promise<MigrationResult | string> {
  const migration = host('a').vm('web').migrateTo('b', { ...options, signal });
  migration.on('progress', (progress) => console.log(`${progress.percent}%`));
  try {
    return await migration;
  } catch (error) {
    if (error instanceof PreflightError) return error.checks.filter((check) => !check.ok).map((check) => check.message).join('; ');
    if (error instanceof MigrationError) return `${error.phase}: the VM is ${error.vmState}`;
    throw error;
  }
}

export async function drain(name: string): Promise<EvacuationReport> {
  const names: string[] = hosts().map((h) => h.name).filter((other) => other !== name);
  return host(name).evacuate({ to: names, maxDowntime: 300 });
}
