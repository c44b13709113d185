import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planStorage, type StorageFacts } from '../../../sdk/migration/storage/storage-plan.ts';
import { disksOf, type VmDisk } from '../../../sdk/migration/storage/vm-disks.ts';
import type { BlockInfo } from '../../../sdk/qmp/index.ts';

const GiB = 1024 ** 3;

function disk(path: string, extra: Partial<VmDisk> = {}): VmDisk {
  return { device: 'disk0', nodeName: '#block100', path, format: 'qcow2', virtualSizeBytes: 2 * GiB, allocatedBytes: GiB, cache: 'none', writable: true, ...extra };
}

function facts(extra: Partial<StorageFacts> = {}): StorageFacts {
  return { shared: new Set(), unprovable: new Set(), onDestination: new Map(), destinationDirs: new Map([['/srv/vms', { writable: true, freeBytes: 10 * GiB }]]), ...extra };
}

const auto = { mode: 'auto' as const, disks: {} };

test('auto: a disk the destination sees is shared, any other is copied', () => {
  const shared = planStorage('web', 'b', [disk('/srv/vms/a.qcow2')], facts({ shared: new Set(['/srv/vms/a.qcow2']) }), auto);
  assert.equal(shared.disks[0]?.action, 'shared');
  assert.ok(shared.checks.every((check) => check.ok));
  const local = planStorage('web', 'b', [disk('/srv/vms/a.qcow2')], facts(), auto);
  assert.equal(local.disks[0]?.action, 'copy');
  assert.ok(local.checks.every((check) => check.ok), JSON.stringify(local.checks));
});

test('a different file already at the path on the destination is refused, never overwritten', () => {
  const plan = planStorage('web', 'b', [disk('/srv/vms/a.qcow2')], facts({ onDestination: new Map([['/srv/vms/a.qcow2', {}]]) }), auto);
  assert.equal(plan.disks.length, 0);
  const refusal = plan.checks.find((check) => !check.ok);
  assert.match(refusal?.message ?? '', /will not overwrite it; remove or rename it on b/);
});

test('the stale copy ferry left for the same VM may be replaced; one left for another VM may not', () => {
  const mine = planStorage('web', 'b', [disk('/srv/vms/a.qcow2')], facts({ onDestination: new Map([['/srv/vms/a.qcow2', { leftoverOf: 'web' }]]) }), auto);
  assert.equal(mine.disks[0]?.action, 'copy');
  assert.equal(mine.disks[0]?.replacesLeftover, true);
  const other = planStorage('web', 'b', [disk('/srv/vms/a.qcow2')], facts({ onDestination: new Map([['/srv/vms/a.qcow2', { leftoverOf: 'db' }]]) }), auto);
  assert.equal(other.disks.length, 0);
});

test("'shared' refuses a local disk and says how to copy it; 'copy' refuses a shared one", () => {
  const shared = planStorage('web', 'b', [disk('/srv/vms/a.qcow2')], facts(), { mode: 'shared', disks: {} });
  assert.match(shared.checks.find((check) => !check.ok)?.message ?? '', /use storage 'copy' or 'auto'/);
  const copy = planStorage('web', 'b', [disk('/srv/vms/a.qcow2')], facts({ shared: new Set(['/srv/vms/a.qcow2']) }), { mode: 'copy', disks: {} });
  assert.match(copy.checks.find((check) => !check.ok)?.message ?? '', /overwrite the disk with itself/);
});

test('per-disk overrides by path or device win over the mode', () => {
  const plan = planStorage('web', 'b', [disk('/srv/vms/a.qcow2'), disk('/srv/vms/b.qcow2', { device: 'data' })], facts(), { mode: 'shared', disks: { '/srv/vms/a.qcow2': 'copy', data: 'copy' } });
  assert.deepEqual(plan.disks.map((entry) => entry.action), ['copy', 'copy']);
});

test('no room, or no directory, for the copy is refused before anything moves', () => {
  const full = planStorage('web', 'b', [disk('/srv/vms/a.qcow2', { allocatedBytes: 20 * GiB })], facts(), auto);
  assert.match(full.checks.find((check) => !check.ok)?.message ?? '', /free space there first/);
  const nodir = planStorage('web', 'b', [disk('/elsewhere/a.qcow2')], facts(), auto);
  assert.match(nodir.checks.find((check) => !check.ok)?.message ?? '', /directory \/elsewhere is missing or not writable on b/);
});

test('a read-only image must be there; it is never copied', () => {
  const missing = planStorage('web', 'b', [disk('/srv/iso/x.iso', { writable: false })], facts(), auto);
  assert.match(missing.checks[0]?.message ?? '', /missing on b/);
  assert.equal(missing.checks[0]?.ok, false);
  const present = planStorage('web', 'b', [disk('/srv/iso/x.iso', { writable: false })], facts({ onDestination: new Map([['/srv/iso/x.iso', {}]]) }), auto);
  assert.equal(present.disks[0]?.action, 'shared');
});

test('query-block is joined with the command line: the node to mirror, the exact size, the cache mode', () => {
  const blocks: BlockInfo[] = [{
    device: 'disk0', type: 'unknown', removable: false, locked: false,
    inserted: {
      file: '/srv/vms/a.qcow2', 'node-name': '#block107', ro: false, drv: 'qcow2', backing_file_depth: 0, encrypted: false, detect_zeroes: 'off',
      image: { filename: '/srv/vms/a.qcow2', format: 'qcow2', 'virtual-size': 67108864, 'actual-size': 200704 },
      cache: { writeback: true, direct: true, 'no-flush': false }, write_threshold: 0,
    },
  }];
  const [found] = disksOf([{ path: '/srv/vms/a.qcow2', writable: true }, { path: '/srv/iso/none.iso', writable: false }], blocks);
  assert.deepEqual(found, { device: 'disk0', nodeName: '#block107', path: '/srv/vms/a.qcow2', format: 'qcow2', virtualSizeBytes: 67108864, allocatedBytes: 200704, cache: 'none', writable: true });
});
