import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AntiAffinity } from '../../../sdk/evacuation/anti-affinity.ts';
import { MEMORY_HEADROOM_BYTES, PlacementLedger, placeVms, type PlacementHost } from '../../../sdk/evacuation/placement.ts';

const MiB = 1024 ** 2;
const host = (name: string, freeMiB: number, extra: Partial<PlacementHost> = {}): PlacementHost => ({ name, memAvailableBytes: freeMiB * MiB, memoryBudgetBytes: undefined, vms: [], ...extra });
const vm = (name: string, mib: number) => ({ name, memoryBytes: mib * MiB });

test('each VM goes where most room is left, counting what is already planned there', () => {
  const ledger = new PlacementLedger([host('b', 2048), host('c', 1500)], new AntiAffinity());
  const placed = placeVms([vm('w1', 512), vm('w2', 512), vm('w3', 512)], ledger);
  assert.deepEqual(placed.map((p) => p.to), ['b', 'c', 'b']);
});

test('a VM that fits nowhere is reported with every host’s reason, and others still placed', () => {
  const ledger = new PlacementLedger([host('b', 8192, { memoryBudgetBytes: 640 * MiB }), host('c', 700)], new AntiAffinity());
  const placed = placeVms([vm('big', 768), vm('w1', 256)], ledger);
  const big = placed[0];
  assert.ok(big && big.to === undefined && 'reason' in big);
  assert.match(big.reason, /b: memory budget 640 MiB/);
  assert.match(big.reason, /c: \d+ MiB free after what is planned, needs 896 MiB/);
  assert.equal(placed[1]?.to, 'b');
});

test('budgets count the guests already on a host', () => {
  const ledger = new PlacementLedger([host('b', 8192, { memoryBudgetBytes: 1024 * MiB, vms: [vm('old', 768)] })], new AntiAffinity());
  assert.equal(ledger.place(vm('w1', 256)).to, 'b');
  assert.equal(ledger.place(vm('w2', 256)).to, undefined);
});

test('anti-affinity: two VMs of a group never share a host, including VMs already there', () => {
  const affinity = new AntiAffinity({ db: ['db1', 'db2', 'db3'] });
  const ledger = new PlacementLedger([host('b', 4096, { vms: [vm('db3', 256)] }), host('c', 4096)], affinity);
  const placed = placeVms([vm('db1', 256), vm('db2', 256)], ledger);
  assert.equal(placed[0]?.to, 'c');
  const second = placed[1];
  assert.ok(second && second.to === undefined && 'reason' in second);
  assert.match(second.reason, /b: anti-affinity group db \(db3 is there\)/);
  assert.match(second.reason, /c: anti-affinity group db \(db1 is there\)/);
});

test('excluded hosts (maintenance, unreachable) and hosts already running a VM of that name take nothing', () => {
  const ledger = new PlacementLedger([host('b', 4096, { excluded: 'in maintenance (kernel update)' }), host('c', 4096, { vms: [vm('w1', 128)] })], new AntiAffinity());
  const placement = ledger.place(vm('w1', 256));
  assert.equal(placement.to, undefined);
  assert.ok('reason' in placement);
  assert.match(placement.reason, /b: in maintenance/);
  assert.match(placement.reason, /c: a VM called w1 already runs there/);
});

test('a retry elsewhere: release frees the failed host, exclude keeps it out', () => {
  const ledger = new PlacementLedger([host('b', 1024), host('c', 1024)], new AntiAffinity());
  const w = vm('w1', 512);
  assert.equal(ledger.place(w).to, 'b');
  assert.equal(ledger.roomAfter('b', 0), 1024 * MiB - 512 * MiB - MEMORY_HEADROOM_BYTES - MEMORY_HEADROOM_BYTES);
  ledger.release(w, 'b');
  assert.equal(ledger.place(w, { exclude: ['b'] }).to, 'c');
});

test('a move-back may put together again VMs that lived together, but not next to another of their group', () => {
  const affinity = new AntiAffinity({ db: ['db1', 'db2', 'db3'] }, new Set(['db1', 'db2']));
  assert.equal(affinity.conflict('db1', ['db2']), undefined);
  assert.deepEqual(affinity.conflict('db1', ['db3']), { vm: 'db3', group: 'db' });
});

test('a VM never goes to a host whose QEMU is older than the one it runs (preflight refuses newer → older)', () => {
  const ledger = new PlacementLedger([host('old', 8192, { qemuVersion: '7.2.22' }), host('new', 1024, { qemuVersion: '10.0.2' })], new AntiAffinity());
  assert.equal(ledger.place({ ...vm('upgraded', 256), qemuVersion: '10.0.2' }).to, 'new', 'only the 10.0 host, though the 7.2 one has more room');
  assert.equal(ledger.place({ ...vm('legacy', 256), qemuVersion: '7.2.22' }).to, 'old', 'an older VM goes anywhere');
  const nowhere = ledger.place({ ...vm('newest', 256), qemuVersion: '10.1.0' });
  assert.ok(nowhere.to === undefined && 'reason' in nowhere);
  assert.match(nowhere.reason, /old: QEMU 7\.2\.22 there is older than the 10\.1\.0 newest runs/);
  assert.match(nowhere.reason, /new: QEMU 10\.0\.2 there is older/);
  // Versions not known on either side: memory decides, preflight checks later.
  assert.equal(new PlacementLedger([host('x', 2048)], new AntiAffinity()).place({ ...vm('v', 256), qemuVersion: '10.0.2' }).to, 'x');
});
