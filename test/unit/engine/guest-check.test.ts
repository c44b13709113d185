import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestAgentSocket } from '../../../sdk/migration/guest-check.ts';

test('the guest agent is found by its virtserialport name on a unix socket chardev', () => {
  const argv = ['qemu-system-x86_64', '-chardev', 'socket,path=/run/vms/web.qga.sock,server=on,wait=off,id=qga0', '-device', 'virtio-serial', '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0'];
  assert.equal(guestAgentSocket(argv), '/run/vms/web.qga.sock');
});

test('a VM without an agent channel (or with another port) has none', () => {
  assert.equal(guestAgentSocket(['-chardev', 'socket,path=/x.sock,server=on,id=c0', '-device', 'virtserialport,chardev=c0,name=com.example.other']), undefined);
  assert.equal(guestAgentSocket(['-m', '512']), undefined);
});
