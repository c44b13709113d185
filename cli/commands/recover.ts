import { host } from '../../sdk/index.ts';
import { parseVmRef, UsageError, type CliCommand } from '../cli-command.ts';
import { EXIT } from '../exit-codes.ts';

export const command: CliCommand = {
  name: 'recover',
  summary: 'finish an interrupted migration from what QEMU reports on both hosts',
  usage: 'ferry recover HOST/VM [--json]   (HOST: the migration\'s source)',
  async run(args, io) {
    if (args.length !== 1) throw new UsageError(args.length === 0 ? 'expected HOST/VM' : `unexpected ${JSON.stringify(args[1])}`);
    const ref = parseVmRef(args[0]);
    const report = await host(ref.host).vm(ref.vm).recover({ signal: io.signal });
    const settled = report.vmState === 'running-on-source' || report.vmState === 'running-on-destination' || report.vmState === 'not-found';
    if (io.json) io.stdout.write(JSON.stringify({ ok: settled, ...report }) + '\n');
    else {
      io.stdout.write(`${report.summary}\n`);
      for (const step of report.steps) io.stdout.write(`  ✓ ${step}\n`);
    }
    return settled ? EXIT.ok : EXIT.vmStateUnknown;
  },
};
