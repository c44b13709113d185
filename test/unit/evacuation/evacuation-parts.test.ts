import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fleet } from '../../../sdk/model/fleet.ts';
import { Host } from '../../../sdk/model/host.ts';
import { ConfigError } from '../../../sdk/index.ts';
import { guestMemoryFromArgv, parseMemorySize } from '../../../sdk/evacuation/memory-size.ts';
import { parseSurvey } from '../../../sdk/evacuation/host-survey.ts';
import { parseMaintenanceMark } from '../../../sdk/evacuation/maintenance.ts';
import { resolveEvacuateOptions } from '../../../sdk/evacuation/evacuation-options.ts';
import { EvacuationOptionsError } from '../../../sdk/evacuation/evacuation-errors.ts';
import { makePredictor, predictMakespanMs, FIXED_COST_MS } from '../../../sdk/evacuation/prediction.ts';

const MiB = 1024 ** 2;

test('memory sizes: config budgets and QEMU -m', () => {
  assert.equal(parseMemorySize('640MiB'), 640 * MiB);
  assert.equal(parseMemorySize('1.5 GiB'), 1.5 * 1024 * MiB);
  assert.equal(parseMemorySize(4096), 4096);
  assert.equal(parseMemorySize('lots'), undefined);
  assert.equal(guestMemoryFromArgv(['qemu', '-m', '256']), 256 * MiB);
  assert.equal(guestMemoryFromArgv(['qemu', '-m', '2G']), 2048 * MiB);
  assert.equal(guestMemoryFromArgv(['qemu', '-m', 'size=1G,slots=2,maxmem=4G']), 1024 * MiB);
  assert.equal(guestMemoryFromArgv(['qemu']), 128 * MiB);
});

test('the config takes memoryBudget and antiAffinity, validated, and stays backward compatible', () => {
  const fleet = new Fleet();
  fleet.configure({ hosts: { a: { ssh: 'a' } } });
  fleet.configure({ hosts: { a: { ssh: 'a', memoryBudget: '8GiB' }, b: { memoryBudget: 1024 } }, antiAffinity: { db: ['db1', 'db2'] } });
  assert.deepEqual(fleet.config.antiAffinity, { db: ['db1', 'db2'] });
  assert.throws(() => fleet.configure({ hosts: { a: { memoryBudget: 'lots' } } }), ConfigError);
  assert.throws(() => fleet.configure({ hosts: {}, antiAffinity: { db: 'db1' } }), ConfigError);
  assert.throws(() => fleet.configure({ hosts: {}, antiAffinity: { db: ['x', 'x'] } }), ConfigError);
});

test('a survey reads free memory, the maintenance mark, and each VM with its -m and resident memory', () => {
  const fleet = new Fleet();
  fleet.configure({ hosts: { b: { ssh: 'b', memoryBudget: '640MiB' } } });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const stdout = [
    'MemTotal:       24000000 kB', 'MemAvailable:   20000000 kB',
    `mark ${b64(JSON.stringify({ since: 't', by: { host: 'x', pid: 1 }, reason: 'kernel' }))}`,
    `vm ${b64('web 1')} 42 1 1000 ${b64(['qemu-system-x86_64', '-m', '256', ''].join('\0'))}`,
  ].join('\n');
  const survey = parseSurvey(new Host(fleet, 'b'), stdout);
  assert.equal(survey.memAvailableBytes, 20000000 * 1024);
  assert.equal(survey.memoryBudgetBytes, 640 * MiB);
  assert.equal(survey.maintenance?.reason, 'kernel');
  assert.deepEqual(survey.vms, [{ name: 'web 1', pid: 42, migrating: true, residentBytes: 1000 * 1024, memoryBytes: 256 * MiB }]);
  assert.equal(parseMaintenanceMark('').reason, 'marked by hand', 'an empty marker file (touch) is a mark');
});

test('a survey reads the host\'s QEMU and the QEMU each VM\'s process runs (which an upgrade in place does not change)', () => {
  const fleet = new Fleet();
  fleet.configure({ hosts: { b: { ssh: 'b' } } });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const stdout = [
    'MemTotal:       24000000 kB', 'MemAvailable:   20000000 kB',
    `qemu ${b64('QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)')}`,
    `vm ${b64('old')} 42 0 1000 ${b64(['qemu-system-x86_64', '-m', '256', ''].join('\0'))} ${b64('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)')}`,
    `vm ${b64('odd')} 43 0 1000 ${b64(['qemu-system-x86_64', ''].join('\0'))} -`,
  ].join('\n');
  const survey = parseSurvey(new Host(fleet, 'b'), stdout);
  assert.equal(survey.qemuVersion, '10.0.2');
  assert.equal(survey.vms.find((vm) => vm.name === 'old')?.qemuVersion, '7.2.22');
  assert.equal(survey.vms.find((vm) => vm.name === 'odd')?.qemuVersion, undefined, 'unreadable: left out');
});

test('options are checked before anything is touched', () => {
  assert.deepEqual(resolveEvacuateOptions({ to: 'b, c' }).to, ['b', 'c']);
  assert.equal(resolveEvacuateOptions().concurrency, 'adaptive');
  for (const bad of [{ concurrency: 0 }, { concurrency: 1.5 }, { order: 'random' }, { throughput: 'fast' }, { to: [] }, { turbo: true }, { maxDowntime: -1 }]) {
    assert.throws(() => resolveEvacuateOptions(bad as never), EvacuationOptionsError, JSON.stringify(bad));
  }
});

test('predictions: bytes over a throughput learnt from the journal, fixed costs overlapping under concurrency', () => {
  const assumed = makePredictor([], undefined);
  assert.match(assumed.basis, /assumed/);
  const learnt = makePredictor([{ at: '', run: 'r', kind: 'moved', vm: 'w', from: 'a', to: 'b', attempt: 1, downtimeMs: 1, wallTimeMs: FIXED_COST_MS + 2000, transferredBytes: 1, bytesToMove: 200 * MiB }], undefined);
  assert.equal(learnt.throughput, 100 * MiB);
  assert.equal(learnt.predictMs(100 * MiB), FIXED_COST_MS + 1000);
  assert.match(learnt.basis, /median of 1 migrations in the journal/);
  const steps = [FIXED_COST_MS + 1000, FIXED_COST_MS + 3000];
  assert.equal(predictMakespanMs(steps, 1), 2 * FIXED_COST_MS + 4000);
  assert.equal(predictMakespanMs(steps, 2), FIXED_COST_MS + 4000);
});
