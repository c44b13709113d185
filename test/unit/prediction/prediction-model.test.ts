import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirtyingFromWindows } from '../../../sdk/migration/prediction/dirty-windows.ts';
import { simulatePrecopy } from '../../../sdk/migration/prediction/precopy-model.ts';
import { predictFromMeasures, type PredictionMeasures } from '../../../sdk/migration/prediction/predict-migration.ts';
import { resolveMigrationOptions } from '../../../sdk/migration/migration-options.ts';

const MiB = 1024 ** 2;
const names = { vm: 'web', source: 'a', destination: 'b' };

function measures(over: Partial<PredictionMeasures> = {}): PredictionMeasures {
  return { memoryBytes: 256 * MiB, dirtyRate: 0, link: 1e9, nonZeroShare: 0.26, throughput: 15.4e6, measureMs: 0, ...over };
}

describe('dirtyingFromWindows', () => {
  test('a writer that covers its working set within the long window: rate from the short ones, working set from the long one', () => {
    // The lab's 40 MB/s writer over 64 MiB, as QEMU read it.
    const d = dirtyingFromWindows([{ seconds: 1, rate: 38 * MiB }, { seconds: 1, rate: 35 * MiB }, { seconds: 1, rate: 41 * MiB }, { seconds: 3, rate: 21 * MiB }]);
    assert.equal(d.dirtyRate, 38 * MiB);
    assert.equal(d.workingSetBytes, 63 * MiB);
  });

  test('a slow writer keeps counting in the long window: no working set, and the long window floors the rate', () => {
    const d = dirtyingFromWindows([{ seconds: 1, rate: 5 * MiB }, { seconds: 1, rate: 6 * MiB }, { seconds: 1, rate: 7 * MiB }, { seconds: 3, rate: 7 * MiB }]);
    assert.equal(d.dirtyRate, 7 * MiB);
    assert.equal(d.workingSetBytes, undefined);
  });

  test('idle, or nothing measured', () => {
    assert.deepEqual(dirtyingFromWindows([{ seconds: 1, rate: 0 }, { seconds: 3, rate: 0 }]), { dirtyRate: 0 });
    assert.deepEqual(dirtyingFromWindows([]), { dirtyRate: 0 });
  });
});

describe('simulatePrecopy', () => {
  test('an idle guest: one pass, then a switchover of nothing', () => {
    const o = simulatePrecopy({ firstPassBytes: 70e6, throughput: 14e6, dirtyRate: 0, downtimeLimitMs: 300, overheadMs: 25, setupMs: 500 });
    assert.equal(o.converges, true);
    assert.equal(o.passes, 2);
    assert.equal(o.totalMs, 500 + 5000 + 25);
  });

  test('a stricter switchover threshold costs more (shorter) passes', () => {
    const base = { firstPassBytes: 130e6, throughput: 15.4e6, dirtyRate: 8e6, downtimeLimitMs: 300, overheadMs: 25 };
    const loose = simulatePrecopy(base);
    const strict = simulatePrecopy({ ...base, switchoverBytes: 0.5e6 });
    assert.ok(loose.converges && strict.converges);
    assert.ok(strict.passes > loose.passes, `${strict.passes} vs ${loose.passes}`);
    assert.ok(strict.totalMs > loose.totalMs);
    assert.ok(strict.downtimeMs < loose.downtimeMs);
  });

  test('the working set caps what a pass can leave behind', () => {
    const base = { firstPassBytes: 130e6, throughput: 15.4e6, dirtyRate: 40e6, downtimeLimitMs: 1000, overheadMs: 25 };
    assert.equal(simulatePrecopy(base).converges, false);
    // 40 MB/s into a 1 MB working set: each pass leaves 1 MB, which fits 1 s.
    assert.equal(simulatePrecopy({ ...base, workingSetBytes: 1e6 }).converges, true);
  });
});

describe('predictFromMeasures', () => {
  test('a moderate writer converges; its passes run until the dirty set fits the steered threshold', () => {
    const p = predictFromMeasures(measures({ dirtyRate: 8e6, nonZeroShare: 0.5 }), resolveMigrationOptions({ maxDowntime: 300, bandwidth: '16MiB/s', policy: 'none' }), names);
    assert.equal(p.go, true);
    assert.equal(p.finish, 'pre-copy');
    assert.ok(p.precopy.passes >= 6, `passes ${p.precopy.passes}`);
    assert.ok(p.totalMs > 15_000 && p.totalMs < 20_000, `${p.totalMs} ms`);
  });

  test('disks to copy come first: their bytes at the mirrors\' share of the link, and the mirrors\' finish in the pause', () => {
    const options = resolveMigrationOptions({ maxDowntime: 300, bandwidth: '16MiB/s', policy: 'none' });
    const without = predictFromMeasures(measures({ dirtyRate: 8e6, nonZeroShare: 0.5 }), options, names);
    const withDisk = predictFromMeasures(measures({ dirtyRate: 8e6, nonZeroShare: 0.5, diskCopyBytes: 512 * MiB }), options, names);
    const throughput = measures({}).throughput;
    assert.equal(withDisk.totalMs - without.totalMs, Math.round(((512 * MiB) / (throughput * 0.6)) * 1000 + without.totalMs) - without.totalMs);
    assert.equal(withDisk.downtimeMs, without.downtimeMs + 60);
    assert.match(withDisk.notes.join('; '), /copies 536.9 MB of disk first \(about 58 s\)/);
  });

  test('a fast writer: no-go on pre-copy alone, post-copy sized by the working set when permitted', () => {
    const fast = measures({ dirtyRate: 38 * MiB, workingSetBytes: 64 * MiB, nonZeroShare: 0.48 });
    const none = predictFromMeasures(fast, resolveMigrationOptions({ maxDowntime: 1000, bandwidth: '16MiB/s', policy: 'none' }), names);
    assert.equal(none.go, false);
    const post = predictFromMeasures(fast, resolveMigrationOptions({ maxDowntime: 1000, bandwidth: '16MiB/s', policy: 'ferry', postcopy: true }), names);
    assert.equal(post.go, true);
    assert.equal(post.finish, 'post-copy');
    // ferry sees the guest outpace the link live and switches as the first pass (~129 MB) ends: about 8.5 s, then the working set at the link's rate.
    assert.ok(post.totalMs > 7_000 && post.totalMs < 11_000, `${post.totalMs} ms`);
  });
});

test('post-copy: ferry switches as pass 1 ends, Nova after a whole stalled re-send, oVirt after its schedule', () => {
  const fast = measures({ dirtyRate: 38 * MiB, workingSetBytes: 64 * MiB, nonZeroShare: 0.48 });
  const options = { maxDowntime: 1000, bandwidth: '16MiB/s', postcopy: true } as const;
  const ferry = predictFromMeasures(fast, resolveMigrationOptions({ ...options, policy: 'ferry' }), names);
  const nova = predictFromMeasures(fast, resolveMigrationOptions({ ...options, policy: 'nova' }), names);
  assert.equal(nova.finish, 'post-copy');
  assert.ok(nova.totalMs - ferry.totalMs > 3000, `${nova.totalMs} vs ${ferry.totalMs}`);
  const ovirt = predictFromMeasures(fast, resolveMigrationOptions({ ...options, policy: 'ovirt' }), names);
  assert.ok(ovirt.totalMs > nova.totalMs + 20_000, `${ovirt.totalMs} vs ${nova.totalMs}`);
  const slower = predictFromMeasures(measures({ dirtyRate: 12 * MiB, workingSetBytes: 64 * MiB, nonZeroShare: 0.48 }), resolveMigrationOptions({ ...options, policy: 'ferry' }), names);
  assert.ok(slower.finish !== 'post-copy' || slower.totalMs > ferry.totalMs, 'a guest the live sample does not see outpacing waits for the stall');
});
