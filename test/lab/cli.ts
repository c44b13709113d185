// `npm run lab -- up|down|vm HOST NAME|debian HOST NAME|config`: drive the lab by hand.
import { Lab } from './lab.ts';

const lab = new Lab();
const [command, ...args] = process.argv.slice(2);
switch (command) {
  case 'up':
    await lab.up();
    console.log(`lab up: hosts ${lab.settings.hosts.join(', ')}; ssh -F ${lab.sshConfigFile} <host>`);
    break;
  case 'down':
    await lab.down();
    console.log('lab down');
    break;
  case 'vm': {
    const [host = 'a', name = 'web', dirty = '0', rate = '0'] = args;
    const vm = await lab.startVm(host, name, { dirtyMiB: Number(dirty), dirtyRateMBps: Number(rate) });
    console.log(`${host}/${name} pid ${vm.pid} at ${vm.address}, QMP ${vm.qmpSocket}`);
    break;
  }
  case 'debian': {
    const [host = 'a', name = 'deb'] = args;
    const vm = await lab.startDebianVm(host, name);
    console.log(`${host}/${name} (Debian 12) pid ${vm.pid} at ${vm.address}, QMP ${vm.qmpSocket}, disk ${lab.debianDiskPath(host, name)}`);
    break;
  }
  case 'config':
    console.log(JSON.stringify(lab.ferryConfig(), null, 2));
    break;
  default:
    console.error('usage: npm run lab -- up | down | vm HOST NAME [DIRTY_MIB RATE_MBPS] | debian HOST NAME | config');
    process.exitCode = 2;
}
