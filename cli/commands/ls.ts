import { host, hosts } from '../../sdk/index.ts';
import { UsageError, type CliCommand } from '../cli-command.ts';
import { EXIT } from '../exit-codes.ts';
import { parseFlags } from '../parse-flags.ts';
import { table } from '../render/format.ts';

export const command: CliCommand = {
  name: 'ls',
  summary: 'list the VMs on one host, or on every configured host',
  usage: 'ferry ls [HOST] [--json]',
  async run(args, io) {
    const { positionals } = parseFlags(args, {});
    if (positionals.length > 1) throw new UsageError(`expected at most one host, got ${positionals.join(' ')}`);
    const targets = positionals[0] ? [host(positionals[0])] : hosts();
    const results = await Promise.allSettled(targets.map((h) => h.vms({ signal: io.signal })));
    const rows = results.flatMap((result, i) => (result.status === 'fulfilled' ? result.value : []));
    const unreachable = results.flatMap((result, i) =>
      result.status === 'rejected' ? [{ host: targets[i]?.name ?? '?', error: result.reason instanceof Error ? result.reason.message : String(result.reason) }] : [],
    );
    if (io.json) {
      io.stdout.write(JSON.stringify({ ok: unreachable.length === 0, vms: rows, unreachable }) + '\n');
    } else {
      if (rows.length > 0) {
        io.stdout.write(table([['HOST', 'VM', 'PID', 'STATE'], ...rows.map((vm) => [vm.host, vm.name, String(vm.pid ?? '-'), vm.state])]));
      } else if (unreachable.length === 0) {
        io.stderr.write(targets.length === 0 ? 'ferry: no hosts configured (see ferry.json or FERRY_CONFIG)\n' : 'no VMs\n');
      }
      for (const u of unreachable) io.stderr.write(`ferry: ${u.host}: ${u.error}\n`);
    }
    return unreachable.length > 0 ? EXIT.unreachable : EXIT.ok;
  },
};
