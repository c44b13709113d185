import { host } from '../../sdk/index.ts';
import { parseVmRef, UsageError, type CliCommand } from '../cli-command.ts';
import { EXIT } from '../exit-codes.ts';
import { parseFlags } from '../parse-flags.ts';

export const command: CliCommand = {
  name: 'status',
  summary: "a VM's QEMU pid and run state",
  usage: 'ferry status HOST/VM [--json]',
  async run(args, io) {
    const { positionals } = parseFlags(args, {});
    if (positionals.length > 1) throw new UsageError(`unexpected ${JSON.stringify(positionals[1])}`);
    const ref = parseVmRef(positionals[0]);
    const status = await host(ref.host).vm(ref.vm).status({ signal: io.signal });
    if (io.json) io.stdout.write(JSON.stringify({ ok: true, ...status }) + '\n');
    else io.stdout.write(`${status.host}/${status.name}: ${status.state} (pid ${status.pid})\n`);
    return EXIT.ok;
  },
};
