import { test } from 'node:test';
import assert from 'node:assert/strict';
import { destinationCommandLine, filesUnder, pinMachineType } from '../../../sdk/migration/destination-command-line.ts';
import { diskImages } from '../../../sdk/migration/disk-images.ts';
import { machineOption } from '../../../sdk/migration/preflight.ts';

const paths = { sourceRunDir: '/run/ferry/a', destinationRunDir: '/run/ferry/b/', qmpSocket: '/run/ferry/b/web.qmp', pidFile: '/run/ferry/b/web.pid' };

test("the destination's command line: runDir paths moved, -incoming replaced by defer, the convention kept", () => {
  const source = [
    'qemu-system-x86_64', '-name', 'web', '-m', '512',
    '-chardev', 'file,id=console,path=/run/ferry/a/web.console', '-serial', 'chardev:console',
    '-qmp', 'unix:/run/ferry/a/web.qmp,server=on,wait=off', '-pidfile', '/run/ferry/a/web.pid', '-daemonize',
    '-drive', 'file=/var/lib/images/web.qcow2,if=virtio', '-incoming', 'tcp:0:4444',
  ];
  assert.deepEqual(destinationCommandLine(source, paths), [
    'qemu-system-x86_64', '-name', 'web', '-m', '512',
    '-chardev', 'file,id=console,path=/run/ferry/b/web.console', '-serial', 'chardev:console',
    '-qmp', 'unix:/run/ferry/b/web.qmp,server=on,wait=off', '-pidfile', '/run/ferry/b/web.pid', '-daemonize',
    '-drive', 'file=/var/lib/images/web.qcow2,if=virtio', '-S', '-incoming', 'defer',
  ]);
});

test('a VM started without the convention (foreground, no pid file, monitor elsewhere) gets it on the destination', () => {
  const argv = destinationCommandLine(['qemu-system-x86_64', '-m', '256', '--incoming=defer'], paths);
  assert.deepEqual(argv, ['qemu-system-x86_64', '-m', '256', '-daemonize', '-pidfile', '/run/ferry/b/web.pid', '-qmp', 'unix:/run/ferry/b/web.qmp,server=on,wait=off', '-S', '-incoming', 'defer']);
});

test('a runDir that is a prefix of another directory is not rewritten there', () => {
  const argv = destinationCommandLine(['qemu', '-chardev', 'file,path=/run/ferry/ab/x.log'], paths);
  assert.equal(argv[2], 'file,path=/run/ferry/ab/x.log');
});

test('machine aliases are pinned to the versioned type the source resolved', () => {
  assert.deepEqual(pinMachineType(['q', '-machine', 'pc,accel=tcg'], 'pc-i440fx-7.2'), ['q', '-machine', 'pc-i440fx-7.2,accel=tcg']);
  assert.deepEqual(pinMachineType(['q', '-M', 'type=q35'], 'pc-q35-7.2'), ['q', '-M', 'type=pc-q35-7.2']);
  assert.deepEqual(pinMachineType(['q', '-machine', 'accel=kvm'], 'pc-i440fx-7.2'), ['q', '-machine', 'pc-i440fx-7.2,accel=kvm']);
  assert.deepEqual(pinMachineType(['q', '-m', '1'], 'pc-i440fx-7.2'), ['q', '-machine', 'pc-i440fx-7.2', '-m', '1']);
  assert.equal(machineOption(['q', '-machine', 'q35,accel=kvm']), 'q35');
  assert.equal(machineOption(['q', '-M', 'accel=kvm,type=pc']), 'pc');
  assert.equal(machineOption(['q']), undefined);
});

test("the files a command line keeps in the runDir (the source's leftovers)", () => {
  const files = filesUnder(['-chardev', 'socket,id=m,path=/run/ferry/a/web.mon,server=on', '-serial', 'file:/run/ferry/a/web.log', '-drive', 'file=/run/ferry/a/sub/disk.img'], '/run/ferry/a');
  assert.deepEqual(files.sort(), ['/run/ferry/a/web.log', '/run/ferry/a/web.mon']);
});

test("a disk image keeps its path, even in the runDir: the destination opens the guest's own file, never a copy of the same name", () => {
  const argv = destinationCommandLine(['qemu', '-drive', 'file=/run/ferry/a/web.qcow2,if=virtio', '-chardev', 'socket,id=m,path=/run/ferry/a/web.mon,server=on', '-serial', 'file:/run/ferry/a/web.log'], paths);
  assert.equal(argv[2], 'file=/run/ferry/a/web.qcow2,if=virtio');
  assert.equal(argv[4], 'socket,id=m,path=/run/ferry/b/web.mon,server=on');
  assert.equal(argv[6], 'file:/run/ferry/b/web.log');
});

test('the disk images a command line opens, and which the guest can write', () => {
  assert.deepEqual(diskImages([
    '-drive', 'file=/var/lib/vms/web.qcow2,if=virtio,cache=none',
    '-drive', 'file=/iso/debian.iso,media=cdrom',
    '-drive', 'file=nbd:10.0.0.1:10809,if=virtio',
    '-blockdev', 'driver=file,node-name=f0,filename=/var/lib/vms/data,,1.raw',
    '-blockdev', '{"driver":"qcow2","node-name":"d1","file":{"driver":"file","filename":"/var/lib/vms/db.qcow2"}}',
    '-hda', '/var/lib/vms/old.img', '-cdrom', '/iso/tools.iso',
  ]), [
    { path: '/var/lib/vms/web.qcow2', writable: true },
    { path: '/iso/debian.iso', writable: false },
    { path: '/var/lib/vms/data,1.raw', writable: true },
    { path: '/var/lib/vms/db.qcow2', writable: true },
    { path: '/var/lib/vms/old.img', writable: true },
    { path: '/iso/tools.iso', writable: false },
  ]);
});
