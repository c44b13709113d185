import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIGRATION_STAGE_TRANSITIONS, StageHistory, type MigrationStage } from '../../../sdk/migration/migration-stage.ts';

test('a pre-copy and a post-copy migration walk the stage table; a failure settles from anywhere before the end', () => {
  const precopy = new StageHistory();
  for (const stage of ['source-claimed', 'destination-started', 'transferring', 'paused-for-switchover', 'switching-over', 'committed', 'destination-running', 'source-ended'] as const) {
    assert.equal(precopy.enter(stage, 1), true, stage);
  }
  assert.equal(precopy.current, 'source-ended');
  const postcopy = new StageHistory();
  for (const stage of ['source-claimed', 'destination-started', 'transferring', 'paused-for-switchover', 'switching-over', 'postcopy', 'committed'] as const) postcopy.enter(stage, 1);
  assert.ok(postcopy.reached('postcopy') && postcopy.reached('committed'));
  for (const [from, next] of Object.entries(MIGRATION_STAGE_TRANSITIONS) as [MigrationStage, readonly MigrationStage[]][]) {
    if (from !== 'source-ended' && from !== 'settling' && from !== 'settled' && from !== 'new') assert.ok(next.includes('settling'), `${from} can settle`);
  }
});

test('a stage the table does not allow is a bug, and staying put is not a change', () => {
  const history = new StageHistory();
  assert.throws(() => history.enter('committed', 1), /new → committed is not allowed/);
  history.enter('source-claimed', 1);
  assert.equal(history.enter('source-claimed', 2), false);
  assert.deepEqual(history.entries.map((entry) => entry.stage), ['new', 'source-claimed']);
  history.enter('settling', 3);
  assert.throws(() => history.enter('transferring', 4), /settling → transferring/);
});
