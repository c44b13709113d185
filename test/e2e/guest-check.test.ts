// After the switchover ferry looks at the guest where it now runs: QEMU's run
// state always, a pvpanic device's events when the VM has one, and the
// caller's own check; all of it in result.guestCheck.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { configure, disconnect, host } from '../../sdk/index.ts';
import { Probe } from '../lab/probe.ts';
import { testLab } from './lab-fixture.ts';

const lab = testLab();

describe('the guest check after the switchover', { timeout: 300_000 }, () => {
  before(async () => {
    await lab.up();
    configure(lab.ferryConfig());
  });
  afterEach(async () => {
    for (const h of ['a', 'b']) await lab.stopVm(h, 'checked');
  });
  after(async () => {
    await disconnect();
    await lab.down();
  });

  test('a VM with a pvpanic device is watched for a panic; the caller\'s check runs where the VM now is', async () => {
    const argv = [...(await lab.guestMachineArgs('a', 'checked', { memoryMiB: 256 })), '-device', 'pvpanic'];
    await host('a').launch('checked', argv);
    await lab.waitReady('a', 'checked');
    const address = lab.guestAddress('checked', {});
    const seenOn: string[] = [];
    const result = await host('a').vm('checked').migrateTo('b', {
      guestCheck: async ({ host: where }) => {
        seenOn.push(where);
        const probe = new Probe(address);
        await probe.start();
        const report = await probe.finish(200);
        return report.received > 0 || 'the guest did not answer the probe';
      },
    });
    assert.equal(result.status, 'completed');
    assert.deepEqual(seenOn, ['b']);
    assert.deepEqual(result.guestCheck?.methods, ['run-state', 'pvpanic', 'hook']);
    assert.equal(result.guestCheck?.ok, true, result.guestCheck?.detail);
    assert.ok((result.guestCheck?.watchedMs ?? 0) >= 2000, 'the panic window was watched');
  });

  test('a failed check is reported, with the VM left running where it is', async () => {
    await lab.startVm('a', 'checked', { memoryMiB: 256 });
    const result = await host('a').vm('checked').migrateTo('b', { guestCheck: async () => 'the service did not answer' });
    assert.equal(result.status, 'completed');
    assert.equal(result.guestCheck?.ok, false);
    assert.match(result.guestCheck?.detail ?? '', /your check failed: the service did not answer/);
    assert.deepEqual(result.guestCheck?.methods, ['run-state', 'hook']);
    assert.equal((await host('b').vm('checked').status()).runState, 'running');
  });
});
