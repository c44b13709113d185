// Prediction on the real lab: measured before anything moves, then checked
// against the migration it predicted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { configure, disconnect, host } from '../../sdk/index.ts';
import { testLab } from './lab-fixture.ts';

const lab = testLab();

describe('predictMigration on the lab', { timeout: 120_000 }, () => {
  before(async () => {
    await lab.up();
    configure(lab.ferryConfig());
  });
  after(async () => {
    for (const h of ['a', 'b']) await lab.stopVm(h, 'pd-idle');
    await disconnect();
  });

  test('an idle guest on a capped link: go, with a total time near the real one', async (t) => {
    await lab.startVm('a', 'pd-idle', { memoryMiB: 256 });
    const options = { maxDowntime: 300, bandwidth: '32MiB/s', policy: 'none' as const };
    const prediction = await host('a').vm('pd-idle').predictMigration('b', options);
    assert.equal(prediction.go, true, prediction.notes.join('; '));
    assert.ok(prediction.measures.link > 10 * 1024 ** 2, `link ${prediction.measures.link} B/s`);
    const result = await host('a').vm('pd-idle').migrateTo('b', options);
    const error = Math.abs(prediction.totalMs - result.totalTimeMs) / result.totalTimeMs;
    t.diagnostic(`predicted ${prediction.totalMs} ms, actual ${result.totalTimeMs} ms (${Math.round(error * 100)}%), non-zero share ${prediction.measures.nonZeroShare}`);
    assert.ok(error < 0.5, `predicted ${prediction.totalMs} ms vs actual ${result.totalTimeMs} ms`);
  });
});
