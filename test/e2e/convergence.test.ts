// Convergence on the real lab: the downtime guarantee across budgets, a
// guest that outpaces the link, and policies that finish it anyway. Judged
// by the guest itself (the probe) and by the source QEMU's own figures read
// over a second monitor ferry does not use, not by ferry's report.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { configure, disconnect, host, MigrationCancelledError, MigrationError, PreflightError, type Migration, type MigrationOptions, type MigrationResult } from '../../sdk/index.ts';
import type { GuestSpec } from '../lab/lab.ts';
import { rawVmState } from '../lab/local-qmp.ts';
import { endedByCancel, eventsText, watchMigration, type WatchedMigration } from '../lab/migration-watch.ts';
import { Probe } from '../lab/probe.ts';
import { rawMigrate, RawMigrationTimeout } from '../lab/raw-migration.ts';
import { slowLoader } from '../lab/slow-destination.ts';
import { SWITCHOVER_OVERHEAD_MS } from '../../sdk/migration/policy/switchover-gate.ts';
import { testLab } from './lab-fixture.ts';

const lab = testLab();
// Dirties 40 MB/s over 64 MiB: faster than a 16 MiB/s link can carry.
const outpacing = { memoryMiB: 256, dirtyMiB: 64, dirtyRateMBps: 40 };
// What the probe's longest gap may add to the budget: after the switchover
// the guest's address moves to b's bridge port (QEMU's announce), and the
// probe asks every 1 ms from a process sharing two cores with TCG guests.
const PROBE_ALLOWANCE_MS = 250;
// Budgets up to the gate's planned fixed cost of a switchover cannot be met by any switchover it sees.
const SWITCHOVER_FLOOR_MS = SWITCHOVER_OVERHEAD_MS;
// Stopped after each test even when it fails: a running probe keeps the process alive.
const probes: Probe[] = [];
function probeOf(address: string): Probe {
  const probe = new Probe(address);
  probes.push(probe);
  return probe;
}

/** ferry's migration of `name` from `from` to `to`, with the source QEMU's own reading of it beside; `started` sees it begin. */
async function migrateWatched(from: string, to: string, name: string, options: MigrationOptions, started?: (migration: Migration) => void): Promise<{ outcome: MigrationResult | Error; qemu: WatchedMigration }> {
  // With its QEMU's pid: the watch also reads, at QEMU's stop, any vCPU throttle sleep under way.
  const watch = watchMigration(lab.watchSocket(from, name), 5, await lab.vmPid(from, name));
  const migration = host(from).vm(name).migrateTo(to, options);
  started?.(migration);
  const outcome = await migration.then((r: MigrationResult) => r, (e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  // A completed source quits and closes the monitor; a cancelled one stays.
  if (outcome instanceof Error) watch.stop();
  return { outcome, qemu: await watch.done };
}

describe('convergence on the lab', { timeout: 600_000 }, () => {
  before(async () => {
    await lab.up();
    configure(lab.ferryConfig());
  });
  afterEach(async () => {
    for (const probe of probes.splice(0)) probe.stop();
    for (const h of ['a', 'b']) for (const vm of ['cv-idle', 'cv-busy', 'cv-fast']) await lab.stopVm(h, vm);
  });
  after(async () => {
    await disconnect();
  });

  test('downtime guarantee at 50/300/1000 ms: each migration completes within the budget by QEMU\'s own figure and by the probe, or raw QMP on the same guest cannot do better (at or below a switchover\'s fixed cost: refused in preflight)', async (t) => {
    const guests: [string, GuestSpec][] = [['cv-idle', { memoryMiB: 256, watchMonitor: true }], ['cv-busy', { memoryMiB: 256, dirtyMiB: 64, dirtyRateMBps: 20, watchMonitor: true }]];
    for (const [name, spec] of guests) {
      const vm = await lab.startVm('a', name, spec);
      const probe = probeOf(vm.address);
      await probe.start();
      let where = 'a';
      for (const maxDowntime of [50, 300, 1000]) {
        const to = where === 'a' ? 'b' : 'a';
        probe.resetGap();
        const { outcome, qemu } = await migrateWatched(where, to, name, { maxDowntime, timeout: 30_000 });
        const gap = probe.report().maxGapMs;
        if (outcome instanceof Error) {
          assert.ok(outcome instanceof MigrationError, String(outcome));
          assert.equal(outcome.vmState, 'running-on-source', String(outcome));
          assert.equal((await host(where).vm(name).status()).runState, 'running');
          if (maxDowntime <= SWITCHOVER_FLOOR_MS) {
            // Below the gate's fixed cost no switchover is let through: raw QMP fits 50 ms in 5-10 of 10
            // rounds here but its pauses reach 150-200 ms (bench/convergence.ts calibrate), and a gate
            // cannot tell those apart before the pause. So preflight refuses it before anything moves.
            assert.ok(outcome instanceof PreflightError, String(outcome));
            assert.ok(outcome.checks.some((check) => check.check === 'downtime-budget' && !check.ok), outcome.message);
            assert.match(outcome.message, /downtime guarantee/);
            assert.equal(await lab.vmPid(to, name), undefined, `no QEMU started on ${to}`);
            // The dry run says the same, from the same check; and a caller whose hosts switch over in 10 ms may ask for it.
            const planned = await host(where).vm(name).migrateTo(to, { maxDowntime, dryRun: true });
            assert.ok(planned.plan?.some((step) => step.action.startsWith('would refuse: maxDowntime')), JSON.stringify(planned.plan));
            const measured = await host(where).vm(name).migrateTo(to, { maxDowntime, switchoverCost: 10, dryRun: true });
            assert.ok(!measured.plan?.some((step) => step.action.startsWith('would refuse')), JSON.stringify(measured.plan));
            t.diagnostic(`${name} maxDowntime ${maxDowntime}: refused in preflight on ${where}: ${outcome.message}`);
            continue;
          }
          // The cancel was right only if a raw QMP script cannot move the same guest within the budget either.
          // With return-path, as ferry: on QEMU 7.2 a migration without it, after a cancelled one with it, can lose the guest.
          const raw = await rawMigrate(lab, where, to, name, spec, 4446, { downtimeLimitMs: maxDowntime, timeoutMs: 20_000, capabilities: ['return-path'] }).catch((e: unknown) => {
            if (e instanceof RawMigrationTimeout) return undefined;
            throw e;
          });
          t.diagnostic(`${name} maxDowntime ${maxDowntime}: ferry cancelled on ${where} (${outcome.message}); raw QMP: ${raw ? `completed, downtime ${raw.downtimeMs} ms` : 'did not converge in 20 s'}`);
          assert.ok(!(raw && raw.downtimeMs <= maxDowntime), `ferry cancelled a migration raw QMP completed within ${maxDowntime} ms (${raw?.downtimeMs} ms): ${outcome.message}`);
          if (raw) {
            await lab.stopVm(where, name);
            where = to;
          } else await lab.stopVm(to, name);
          continue;
        }
        t.diagnostic(`${name} maxDowntime ${maxDowntime}: QEMU downtime ${qemu.downtimeMs} ms (${qemu.downtimeFrom}; ferry's estimate ${outcome.convergence?.switchover?.estimateMs} ms), probe gap ${gap} ms, ${outcome.passes} passes`);
        assert.equal(qemu.status, 'completed', 'the source QEMU says completed');
        assert.equal(outcome.downtimeOverrun !== undefined, outcome.downtimeMs > maxDowntime, `${outcome.downtimeMs} ms: ${JSON.stringify(outcome.downtimeOverrun)}`);
        assert.ok(qemu.downtimeMs !== undefined && qemu.downtimeMs <= maxDowntime, `QEMU downtime ${qemu.downtimeMs} ms within ${maxDowntime} ms`);
        // From STOP to `completed` the events read up to 2 ms short of QEMU's own figure (which starts just before STOP).
        assert.ok(Math.abs(outcome.downtimeMs - (qemu.downtimeMs ?? 0)) <= (qemu.downtimeFrom === 'events' ? 2 : 0), `ferry reports ${outcome.downtimeMs} ms, QEMU ${qemu.downtimeMs} ms (${qemu.downtimeFrom})`);
        assert.ok(gap <= maxDowntime + PROBE_ALLOWANCE_MS, `the guest was unreachable ${gap} ms, over ${maxDowntime} + ${PROBE_ALLOWANCE_MS} ms`);
        // Judge by the guest, not QEMU's status: it must live on at the destination.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.notEqual(await lab.vmPid(to, name), undefined, `the guest died on ${to} after a completed migration: ${await lab.consoleTail(to, name)}`);
        where = to;
      }
      const report = await probe.finish(300);
      assert.equal(report.counterWentBackwards, false, 'the guest kept its state');
      await lab.stopVm(where, name);
    }
  });

  test('a guest outpacing the link: plain pre-copy does not finish and stays on the source; ferry with post-copy finishes with the counter intact', async (t) => {
    const vm = await lab.startVm('a', 'cv-fast', outpacing);
    const probe = probeOf(vm.address);
    await probe.start();
    const plain = await host('a').vm('cv-fast').migrateTo('b', { policy: 'none', bandwidth: '16MiB/s', maxDowntime: 300, timeout: 25_000 }).then(() => undefined, (e: unknown) => e);
    assert.ok(plain instanceof MigrationCancelledError, String(plain));
    assert.equal(plain.vmState, 'running-on-source');
    assert.equal(await lab.vmPid('b', 'cv-fast'), undefined);

    const actions: string[] = [];
    const migration = host('a').vm('cv-fast').migrateTo('b', { policy: 'ferry', postcopy: true, bandwidth: '16MiB/s', maxDowntime: 300, timeout: 60_000 });
    migration.on('action', (a) => actions.push(`${a.action}: ${a.reason}`));
    const result = await migration;
    const report = await probe.finish(300);
    t.diagnostic(`ferry: total ${result.totalTimeMs} ms, QEMU downtime ${result.downtimeMs} ms, probe gap ${report.maxGapMs} ms; actions: ${actions.join(' | ')}`);
    assert.equal(result.postcopy, true);
    assert.ok((result.convergence?.actions ?? []).some((a) => a.type === 'postcopy' && a.applied && a.reason.length > 0), 'the action and its reason are in the result');
    assert.ok((result.convergence?.passStats.length ?? 0) >= 2, 'per-pass statistics');
    assert.equal(report.counterWentBackwards, false, 'the guest kept its state');
    assert.notEqual(await lab.vmPid('b', 'cv-fast'), undefined);
    assert.equal((await host('b').vm('cv-fast').status()).runState, 'running');
  });

  test('a guest dirtying ~300 MB/s over a 64 MiB/s link, post-copy not permitted, maxDowntime 300: the default policy throttles it to convergence within the budget, 3 of 3', async (t) => {
    // Under TCG the guest reaches about 130 MiB/s, twice the link, and its dirtier catches up in bursts
    // after each throttle sleep: only 99 % converges it, when a sync lands between its 10 ms slices.
    // It writes one word a page, so even 10 ms a second let it dirty about 55 MB/s alone; the probe's
    // thousand replies a second share those 10 ms (without it, 0 of 5 converged: bench/pause-overrun.ts
    // before it had the probe, and the heavy-throttle test below).
    const spec = { memoryMiB: 256, dirtyMiB: 128, dirtyRateMBps: 300, watchMonitor: true };
    const vm = await lab.startVm('a', 'cv-fast', spec);
    const probe = probeOf(vm.address);
    await probe.start();
    let where = 'a';
    for (let run = 1; run <= 3; run++) {
      const to = where === 'a' ? 'b' : 'a';
      const { outcome, qemu } = await migrateWatched(where, to, 'cv-fast', { bandwidth: '64MiB/s', maxDowntime: 300 });
      assert.ok(!(outcome instanceof Error), `run ${run}: ${String(outcome)}`);
      const result = outcome as MigrationResult;
      const throttles = (result.convergence?.actions ?? []).filter((a) => a.type === 'throttle').map((a) => a.action);
      // The probe's longest gap is the throttle's (the guest runs 10 ms a second at 99 %), not the switchover's: printed only.
      const asleep = qemu.vcpuSleepEndsAfterStopMs;
      t.diagnostic(`run ${run} ${where}→${to}: total ${result.totalTimeMs} ms, QEMU downtime ${qemu.downtimeMs} ms (ferry's estimate ${result.convergence?.switchover?.estimateMs} ms${asleep !== undefined ? `; a vCPU slept until ${asleep} ms after the stop, the guard saw ${result.convergence?.switchover?.vcpuSleepMs} ms to come` : ''}), QEMU's throttle up to ${qemu.maxThrottlePercent}%, ${result.passes} passes, probe gap ${probe.report().maxGapMs} ms; steps ${throttles.join(', ')}`);
      assert.equal(qemu.status, 'completed');
      assert.equal(result.postcopy, false);
      // ferry says so when QEMU's pause broke the budget, and only then.
      assert.equal(result.downtimeOverrun !== undefined, result.downtimeMs > 300, `${result.downtimeMs} ms: ${JSON.stringify(result.downtimeOverrun)}`);
      assert.ok(qemu.maxThrottlePercent > 0 && throttles.length > 0, 'it converged because ferry throttled the guest');
      // QEMU's defect aside: a vCPU throttle sleep that began after the stop (read from /proc by the test, at QEMU's
      // STOP) holds QEMU's last steps, and the guest would not have run sooner on the source. The switchover must then
      // keep the budget beyond that sleep, and ferry must say why, from its guard's own reading at the pause.
      assert.ok(qemu.downtimeMs !== undefined, 'QEMU\'s downtime was read');
      if (qemu.downtimeMs > 300) {
        assert.ok(asleep !== undefined && qemu.downtimeMs - asleep <= 300, `QEMU downtime ${qemu.downtimeMs} ms over 300 ms, ${asleep === undefined ? 'with no vCPU throttle sleep under way at the stop' : `${qemu.downtimeMs - asleep} ms beyond a vCPU's throttle sleep`}`);
        assert.match(result.downtimeOverrun?.reason ?? '', /a vCPU was in QEMU's throttle sleep .* \(the guard read it at the pause\)/);
      }
      assert.notEqual(await lab.vmPid(to, 'cv-fast'), undefined);
      where = to;
    }
    const report = await probe.finish(300);
    assert.equal(report.counterWentBackwards, false, 'the guest kept its state');
  });

  test('a destination that loads slower than the link: its backlog in the sockets at the pause is counted at its pace; a budget it breaks is cancelled, the VM running on the source by raw QMP, and one it fits completes within it by QEMU\'s figure', async (t) => {
    // The destination QEMU stopped 45 ms of every 50: it reads the stream at a tenth of its pace, and megabytes
    // wait in the sockets when QEMU pauses this idle guest; the gate saw only 0.2 MiB left before. Whether its
    // guard has seen the lag for 50 ms by the pause depends on the kernel's buffers and the stops' timing: a
    // move it missed must still keep its budget, and at 100 ms one of three tries must be cancelled for it.
    const spec = { memoryMiB: 512, watchMonitor: true };
    await lab.startVm('a', 'cv-idle', spec);
    let where = 'a';
    let cancelledForLag = false;
    for (const [maxDowntime, tries] of [[100, 3], [1500, 1]] as const) {
      for (let attempt = 1; attempt <= tries && !(maxDowntime === 100 && cancelledForLag); attempt++) {
        const to = where === 'a' ? 'b' : 'a';
        const slow = slowLoader(lab, to, 'cv-idle', 45, 5);
        const lines: string[] = [];
        let cancelledAt: number | undefined;
        const { outcome, qemu } = await migrateWatched(where, to, 'cv-idle', { maxDowntime, timeout: 60_000 }, (migration) => {
          migration.on('log', (entry) => lines.push(entry.message));
          migration.on('action', (a) => (cancelledAt ??= a.action === 'cancel' ? Date.now() : undefined));
        }).finally(() => slow.stop());
        const lagged = lines.filter((line) => /switchover:|left the pause to ferry/.test(line)).join(' | ');
        t.diagnostic(`maxDowntime ${maxDowntime}, ${where}→${to}: ${outcome instanceof Error ? outcome.message : `completed, QEMU downtime ${qemu.downtimeMs} ms, estimate ${outcome.convergence?.switchover?.estimateMs} ms, in flight ${JSON.stringify(outcome.convergence?.switchover?.inFlight ?? null)}`}; ${lagged}`);
        if (outcome instanceof Error) {
          assert.ok(outcome instanceof MigrationCancelledError, String(outcome));
          assert.match(outcome.message, /MiB still in the sockets, loaded at the destination's/, 'cancelled for the lagging destination\'s backlog');
          assert.equal(outcome.vmState, 'running-on-source');
          const source = await rawVmState(lab.watchSocket(where, 'cv-idle'));
          assert.equal(source?.runState, 'running');
          assert.ok(endedByCancel(qemu, source?.migration, cancelledAt), `QEMU's migration ended by ferry's cancel: ${source?.migration} after ${eventsText(qemu)}`);
          assert.equal(await lab.vmPid(to, 'cv-idle'), undefined);
          cancelledForLag = true;
          continue;
        }
        assert.equal(qemu.status, 'completed');
        assert.ok(qemu.downtimeMs !== undefined && qemu.downtimeMs <= maxDowntime, `QEMU downtime ${qemu.downtimeMs} ms within ${maxDowntime} ms`);
        assert.equal(await lab.vmPid(where, 'cv-idle'), undefined, 'the source QEMU is gone');
        assert.equal((await rawVmState(`${lab.runDir(to)}/cv-idle.qmp`))?.runState, 'running');
        where = to;
      }
    }
    assert.ok(cancelledForLag, 'at 100 ms, one of three moves to the lagging destination was cancelled for its backlog');
  });

  test('a guest no throttle converges: the default policy keeps it at 95 % or more only for heavyThrottleLimit, then cancels, the guest running on the source by raw QMP on both hosts', async (t) => {
    // The lab's dirtier writes one word a page, so QEMU's 99 % (10 ms of vCPU a second) still lets it dirty
    // about 55 MB/s (scratch measure: 14,000 pages/s): more than 32 MiB/s carries. No probe: its replies
    // would take the guest's CPU from the dirtier.
    await lab.startVm('a', 'cv-fast', { memoryMiB: 256, dirtyMiB: 128, dirtyRateMBps: 300, watchMonitor: true });
    const actions: string[] = [];
    let cancelledAt: number | undefined;
    const { outcome, qemu } = await migrateWatched('a', 'b', 'cv-fast', { bandwidth: '32MiB/s', maxDowntime: 300, heavyThrottleLimit: 10_000, timeout: 180_000 }, (migration) => {
      migration.on('action', (a) => {
        actions.push(`${a.action}: ${a.reason}`);
        cancelledAt ??= a.action === 'cancel' ? Date.now() : undefined;
      });
      migration.on('log', (entry) => {
        if (/switchover|guard|cancel/.test(entry.message)) actions.push(`log: ${entry.message}`);
      });
    });
    t.diagnostic(`QEMU's throttle up to ${qemu.maxThrottlePercent}%, events ${eventsText(qemu)}${cancelledAt !== undefined ? `, QEMU's last event ${Math.round((qemu.events.at(-1)?.at ?? 0) - cancelledAt)} ms from ferry's cancel` : ''}; actions: ${actions.join(' | ')}; ferry: ${outcome instanceof Error ? outcome.message : 'completed'}`);
    assert.ok(outcome instanceof MigrationCancelledError, String(outcome));
    assert.match(outcome.message, /throttled the guest at 95% or more for \d+\.\d s .*longer than 10 s \(heavyThrottleLimit\): giving up rather than starve it longer/);
    assert.equal(outcome.vmState, 'running-on-source');
    assert.ok(qemu.maxThrottlePercent >= 95, `QEMU applied ${qemu.maxThrottlePercent}%`);
    // Raw QMP, not ferry: the source runs with its migration ended by ferry's cancel (QEMU 7.2 may say failed:
    // see endedByCancel), the destination QEMU is gone.
    const source = await rawVmState(lab.watchSocket('a', 'cv-fast'));
    assert.equal(source?.runState, 'running');
    assert.ok(endedByCancel(qemu, source?.migration, cancelledAt), `QEMU's migration ended by ferry's cancel: ${source?.migration} after ${eventsText(qemu)}`);
    assert.equal(await rawVmState(`${lab.runDir('b')}/cv-fast.qmp`, 2000), undefined);
    assert.equal(await lab.vmPid('b', 'cv-fast'), undefined);
  });
});
