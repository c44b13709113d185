// The rolling upgrade's plan: host order, placement by the evacuation's own
// ledger with the QEMU each host will have at each turn, and refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AntiAffinity } from '../../../sdk/evacuation/anti-affinity.ts';
import type { HostSurvey } from '../../../sdk/evacuation/host-survey.ts';
import { planRollingUpgrade, type UpgradePlanInput } from '../../../sdk/upgrade/upgrade-plan.ts';
import type { HostProgress } from '../../../sdk/upgrade/upgrade-journal.ts';

const MiB = 1024 ** 2;

function survey(host: string, qemuVersion: string, vms: Array<{ name: string; qemu?: string; mib?: number }>, extra: Partial<HostSurvey> = {}): HostSurvey {
  return {
    host, memAvailableBytes: 4096 * MiB, memTotalBytes: 8192 * MiB, memoryBudgetBytes: undefined, maintenance: undefined, qemuVersion,
    vms: vms.map((vm, i) => ({ name: vm.name, pid: 100 + i, memoryBytes: (vm.mib ?? 256) * MiB, residentBytes: 64 * MiB, migrating: false, ...(vm.qemu !== undefined && { qemuVersion: vm.qemu }) })),
    ...extra,
  };
}

function input(surveys: HostSurvey[], hosts: string[], extra: Partial<UpgradePlanInput> = {}): UpgradePlanInput {
  const homes: Record<string, string> = {};
  for (const s of surveys) for (const vm of s.vms) homes[vm.name] = s.host;
  return {
    hosts, surveys: new Map(surveys.map((s) => [s.host, s])), homes, expectQemu: '10.0', hook: 'upgrade-qemu',
    affinity: () => new AntiAffinity(), ownMark: () => false, ...extra,
  };
}

const sevenTwo = [
  survey('a', '7.2.22', [{ name: 'web', qemu: '7.2.22' }]),
  survey('b', '7.2.22', [{ name: 'db', qemu: '7.2.22' }]),
  survey('c', '7.2.22', [{ name: 'cache', qemu: '7.2.22' }]),
];

test('hosts take their turn in the order given; each turn evacuates its VMs to the others and returns them', () => {
  const plan = planRollingUpgrade(input(sevenTwo, ['c', 'a', 'b']));
  assert.equal(plan.refused, undefined);
  assert.deepEqual(plan.steps.map((step) => [step.order, step.host]), [[1, 'c'], [2, 'a'], [3, 'b']]);
  const [c, a, b] = plan.steps;
  assert.deepEqual(c?.evacuate.map((move) => [move.vm, move.from]), [['cache', 'c']]);
  assert.ok(c?.evacuate.every((move) => move.to === 'a' || move.to === 'b'));
  assert.deepEqual(c?.returns.map((move) => [move.vm, move.to]), [['cache', 'c']]);
  assert.equal(c?.returns[0]?.from, c?.evacuate[0]?.to, 'it comes home from where it went');
  assert.equal(a?.hook, 'upgrade-qemu');
  assert.match(a?.check ?? '', /10\.0/);
  // The QEMU each host has at each turn: those before it are upgraded already.
  assert.deepEqual(c?.qemuAt, { a: '7.2.22', b: '7.2.22' });
  assert.deepEqual(a?.qemuAt, { c: '10.0', b: '7.2.22' });
  assert.deepEqual(b?.qemuAt, { c: '10.0', a: '10.0' });
  assert.deepEqual([b?.qemuBefore, b?.qemuAfter], ['7.2.22', '10.0']);
});

test('a VM never goes to an older QEMU: a fleet half upgraded must start with its old hosts', () => {
  const mixed = [
    survey('a', '10.0.2', [{ name: 'web', qemu: '10.0.2' }]),
    survey('b', '7.2.22', [{ name: 'db', qemu: '7.2.22' }]),
    survey('c', '7.2.22', [{ name: 'cache', qemu: '7.2.22' }]),
  ];
  const wrong = planRollingUpgrade(input(mixed, ['a', 'b', 'c']));
  assert.match(wrong.refused ?? '', /at a's turn web fits nowhere: b: QEMU 7\.2\.22 there is older than the 10\.0\.2 web runs/);
  assert.deepEqual(wrong.steps[0]?.unplaceable.map((u) => u.vm), ['web']);

  // Upgraded last, a's VM finds b and c on 10.0 by then.
  const right = planRollingUpgrade(input(mixed, ['b', 'c', 'a']));
  assert.equal(right.refused, undefined);
  assert.ok(['a', 'c'].includes(right.steps[0]?.evacuate[0]?.to ?? ''), 'b\'s 7.2 VM may go to a (10.0) or c (7.2)');
  assert.deepEqual(right.steps[2]?.qemuAt, { b: '10.0', c: '10.0' });
  assert.ok(['b', 'c'].includes(right.steps[2]?.evacuate[0]?.to ?? ''));
});

test('a VM that could not come home (its refuge newer than what its home gets) refuses the plan', () => {
  const plan = planRollingUpgrade(input([survey('a', '7.2.22', [{ name: 'web', qemu: '7.2.22' }]), survey('b', '10.1.0', [])], ['a', 'b'], { expectQemu: '10.0' }));
  assert.match(plan.refused ?? '', /web could not come home to a: it would run QEMU 10\.1\.0 on b, newer than the 10\.0 a gets/);
});

test('memory, budgets and maintenance come from the evacuation\'s ledger; a host this upgrade marked still takes VMs', () => {
  const full = [
    survey('a', '7.2.22', [{ name: 'big', mib: 2048 }]),
    survey('b', '7.2.22', [], { memAvailableBytes: 1024 * MiB }),
  ];
  assert.match(planRollingUpgrade(input(full, ['a', 'b'])).refused ?? '', /big fits nowhere: b: 1024 MiB free/);
  const marked = { since: '', by: { host: 'x', pid: 1 }, reason: 'kernel' };
  const inMaintenance = [survey('a', '7.2.22', [{ name: 'web' }]), survey('b', '7.2.22', [], { maintenance: marked })];
  assert.match(planRollingUpgrade(input(inMaintenance, ['a', 'b'])).refused ?? '', /b: in maintenance \(kernel\)/);
  assert.equal(planRollingUpgrade(input(inMaintenance, ['a', 'b'], { ownMark: (s) => s.maintenance?.reason === 'kernel' })).refused, undefined);
});

test('a resumed upgrade: hosts the journal says are done are not planned again, the one in progress says where it goes on', () => {
  const progress = new Map<string, HostProgress>([
    ['a', { host: 'a', hookStarted: true, returned: new Map(), openReturns: new Map(), done: true, evacuated: { evacuation: 'e', moves: [] } }],
    ['b', { host: 'b', hookStarted: true, returned: new Map(), openReturns: new Map(), done: false, evacuated: { evacuation: 'e', moves: [] } }],
  ]);
  const plan = planRollingUpgrade(input(sevenTwo, ['a', 'b', 'c'], { progress }));
  assert.deepEqual(plan.steps.map((step) => [step.host, step.status, step.resumesAt]), [['a', 'done', undefined], ['b', 'to-do', 'hook'], ['c', 'to-do', undefined]]);
});

test('a resumed host already evacuated is planned from its journal: its VMs come home from where they went, whatever placement would say now', () => {
  // db went to a (10.0) before the run died: a has no room left for it by today's numbers (db is
  // there), c's 7.2 could not take a 10.0 VM, and none needs to: db only has to come home.
  const now = [survey('a', '10.0.2', [{ name: 'web', qemu: '10.0.2' }, { name: 'db', qemu: '10.0.2' }], { memAvailableBytes: 100 * MiB }), survey('b', '10.0.2', []), survey('c', '7.2.22', [{ name: 'cache', qemu: '7.2.22' }])];
  const progress = new Map<string, HostProgress>([
    ['a', { host: 'a', hookStarted: true, returned: new Map(), openReturns: new Map(), done: true, evacuated: { evacuation: 'e', moves: [{ vm: 'web', to: 'b' }] } }],
    ['b', { host: 'b', hookStarted: true, returned: new Map(), openReturns: new Map(), done: false, evacuated: { evacuation: 'e', moves: [{ vm: 'db', to: 'a' }] } }],
  ]);
  const plan = planRollingUpgrade(input(now, ['a', 'b', 'c'], { progress, homes: { web: 'a', db: 'b', cache: 'c' } }));
  assert.equal(plan.refused, undefined);
  assert.deepEqual(plan.steps[1]?.evacuate.map((move) => [move.vm, move.to]), [['db', 'a']]);
  assert.deepEqual(plan.steps[1]?.returns.map((move) => [move.vm, move.from, move.to]), [['db', 'a', 'b']]);
});

test('VMs that run on no host are left out of the plan and listed', () => {
  const plan = planRollingUpgrade(input(sevenTwo, ['a', 'b', 'c'], { homes: { web: 'a', db: 'b', cache: 'c', gone: 'a' } }));
  assert.deepEqual(plan.missing, ['gone']);
  assert.deepEqual(plan.steps[0]?.evacuate.map((move) => move.vm), ['web']);
});
