import { host } from '../../sdk/index.ts';
import { parseVmRef, UsageError, type CliCommand } from '../cli-command.ts';
import { EXIT } from '../exit-codes.ts';
import { parseFlags } from '../parse-flags.ts';

/** `key=value` pairs as QMP arguments; values that read as JSON (numbers, true, {..}) are taken as such. */
export function parseQmpArguments(pairs: readonly string[]): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, got ${JSON.stringify(pair)}`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    args[pair.slice(0, eq)] = value;
  }
  return args;
}

export const command: CliCommand = {
  name: 'qmp',
  summary: 'run any QMP command on a VM (arguments as key=value)',
  usage: 'ferry qmp HOST/VM COMMAND [key=value ...] [--json]',
  async run(args, io) {
    const { positionals } = parseFlags(args, {});
    const ref = parseVmRef(positionals[0]);
    const name = positionals[1];
    if (!name) throw new UsageError('expected a QMP command name, e.g. query-status');
    const reply = await host(ref.host).vm(ref.vm).qmpUnchecked(name, parseQmpArguments(positionals.slice(2)), { signal: io.signal });
    io.stdout.write(io.json ? JSON.stringify({ ok: true, return: reply }) + '\n' : JSON.stringify(reply, null, 2) + '\n');
    return EXIT.ok;
  },
};
