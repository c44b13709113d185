import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lostGuardMessage } from '../../../sdk/migration/guard/lost-guard-message.ts';

test("a guard gone with its QEMU says the QEMU exited, with QEMU's last words: not a lost session", () => {
  const gone = { host: 'a', stderr: 'qemu-system-x86_64: some warning\nqemu-system-x86_64: load of migration failed: Invalid argument\n', qemuGone: true, resolved: undefined };
  assert.equal(lostGuardMessage(gone, 'destination'), 'the destination QEMU on a exited mid-migration (qemu-system-x86_64: load of migration failed: Invalid argument), and its guard with it');
  assert.equal(lostGuardMessage({ ...gone, stderr: '' }, 'source'), 'the source QEMU on a exited mid-migration, and its guard with it');
});

test('a guard gone alone is a lost session, with what the guard did by itself', () => {
  assert.equal(lostGuardMessage({ host: 'b', stderr: '', qemuGone: false, resolved: undefined }, 'destination'), "lost ferry's session to b");
  assert.equal(lostGuardMessage({ host: 'b', stderr: '', qemuGone: false, resolved: 'rolled back' }, 'source'), "lost ferry's session to b (its guard acted alone: rolled back)");
});
