import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fleet } from '../../../sdk/model/fleet.ts';
import { HostHandle } from '../../../sdk/api/host-handle.ts';
import { MigrationCancelledError, MigrationOptionsError, TooLateError } from '../../../sdk/migration/migration-errors.ts';
import { resolveMigrationOptions } from '../../../sdk/migration/migration-options.ts';
import { planParameters } from '../../../sdk/migration/parameter-plan.ts';

// Hosts that are never contacted: a dry run and a cancel before start touch nothing.
const fleet = new Fleet();
fleet.configure({ hosts: { a: { ssh: 'root@192.0.2.1' }, b: { ssh: 'root@192.0.2.2' } } });
const a = new HostHandle(fleet, 'a');

test('a dry run returns the plan, side by side, and touches nothing', async () => {
  const result = await a.vm('web').migrateTo('b', { dryRun: true, bandwidth: '64MiB/s', multifd: 4 });
  assert.equal(result.status, 'planned');
  assert.equal(result.options.bandwidth, 64 * 1024 ** 2);
  const steps = result.plan ?? [];
  assert.deepEqual([...new Set(steps.map((s) => s.phase))], ['preflight', 'prepare', 'perform', 'finish', 'confirm']);
  assert.ok(steps.some((s) => s.side === 'destination' && /multifd/.test(s.action)), 'multifd is set on the destination too');
  // Where the pause is answered: next to QEMU by default, in ferry when asked.
  assert.ok(steps.some((s) => s.phase === 'perform' && s.side === 'source' && /guard on a answers next to QEMU/.test(s.action)));
  const inFerry = await a.vm('web').migrateTo('b', { dryRun: true, switchoverGate: 'ferry' });
  assert.ok((inFerry.plan ?? []).some((s) => s.phase === 'perform' && s.side === 'ferry' && /maxDowntime 300 ms/.test(s.action)));
});

test('options can change until the migration starts, then a TooLateError', async () => {
  const migration = a.vm('web').migrateTo('b', { dryRun: true });
  migration.set({ maxDowntime: 50 });
  assert.equal(migration.options.maxDowntime, 50);
  assert.throws(() => migration.set({ maxDowntime: -1 }), MigrationOptionsError);
  await migration;
  assert.throws(() => migration.set({ maxDowntime: 100 }), TooLateError);
});

test('cancel before the start ends it as cancelled with the VM untouched', async () => {
  const migration = a.vm('web').migrateTo('b');
  migration.cancel('not today');
  const error = await migration.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof MigrationCancelledError);
  assert.equal(error.vmState, 'running-on-source');
  assert.match(error.message, /not today/);
  assert.equal(migration.phase, 'cancelled');
});

test('progress can be iterated, and iteration ends with the migration', async () => {
  const migration = a.vm('web').migrateTo('b', { dryRun: true });
  const seen = [];
  for await (const progress of migration) seen.push(progress);
  assert.deepEqual(seen, []);
});

test('an aborted signal cancels like cancel()', async () => {
  const error = await a.vm('web').migrateTo('b', { signal: AbortSignal.abort('caller gave up') }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof MigrationCancelledError);
  assert.match(error.message, /caller gave up/);
});

test('the dry run lists the settings the real run applies: one parameter plan for both', async () => {
  const result = await a.vm('web').migrateTo('b', { dryRun: true, maxDowntime: 300 });
  const plan = planParameters(resolveMigrationOptions({ maxDowntime: 300 }));
  assert.deepEqual(result.settings, { source: plan.source, destination: plan.destination });
  const on = (caps: { capability: string; state: boolean }[]) => caps.filter((c) => c.state).map((c) => c.capability);
  // ferry's policy: the gate's pause, the return path (commit point), auto-converge from a 1 % throttle; no XBZRLE.
  assert.deepEqual(on(plan.source.capabilities).sort(), ['auto-converge', 'events', 'pause-before-switchover', 'return-path']);
  assert.deepEqual(on(plan.destination.capabilities).sort(), ['events', 'late-block-activate', 'return-path']);
  assert.equal(plan.source.parameters['cpu-throttle-initial'], 1);
  assert.equal(plan.options.autoConverge, true);
  const perform = (result.plan ?? []).find((step) => step.phase === 'perform' && /set capabilities/.test(step.action));
  assert.match(perform?.action ?? '', /auto-converge/);
  assert.match(perform?.action ?? '', new RegExp(`"downtime-limit":${plan.source.parameters['downtime-limit']}`));
});
