// `ferry`: the command line. Subcommands live in cli/commands/<name>.ts.
import { parseArgs } from 'node:util';
import { configure, disconnect } from '../sdk/index.ts';
import { UsageError, type CliCommand, type CliIo } from './cli-command.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { reportError } from './report-error.ts';
import { command as ls } from './commands/ls.ts';
import { command as migrate } from './commands/migrate.ts';
import { command as qmp } from './commands/qmp.ts';
import { command as repl } from './commands/repl.ts';
import { command as status } from './commands/status.ts';
import { command as evacuate } from './commands/evacuate.ts';
import { command as run } from './commands/run.ts';

const commands = new Map<string, CliCommand>([ls, status, migrate, qmp, repl, evacuate, run].map((c) => [c.name, c]));

/** Registers a subcommand (recipes, repl and evacuation add theirs). */
export function addCommand(command: CliCommand): void {
  commands.set(command.name, command);
}

function help(): string {
  const lines = [...commands.values()].map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return `ferry: live-migrate running QEMU VMs between hosts

usage: ferry [--config FILE] [--json] COMMAND [args]

commands:
${lines.join('\n')}

Hosts come from --config, FERRY_CONFIG, or ./ferry.json. Run \`ferry help COMMAND\` for a command's options.
Exit codes: 0 ok, 1 failed (VM on the source), 2 bad input, 3 host unreachable,
4 VM state unknown (check both hosts), 5 cancelled or timed out (VM on the source), 130 interrupted.
`;
}

/** Runs ferry with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Omit<CliIo, 'json' | 'signal'> = { stdout: process.stdout, stderr: process.stderr }): Promise<ExitCode> {
  // Global flags may stand anywhere; the command's own flags are parsed by the command.
  const json = argv.includes('--json');
  const rest = argv.filter((arg) => arg !== '--json');
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    io.stderr.write('\nferry: interrupted, rolling back (Ctrl-C again to quit at once)\n');
    controller.abort('interrupted by Ctrl-C');
  };
  process.on('SIGINT', onSigint);
  const cliIo: CliIo = { ...io, json, signal: controller.signal };
  try {
    const { values, positionals } = parseArgs({ args: rest, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: false });
    // `ferry` alone on a terminal opens the REPL.
    const [name = values['help'] !== true && process.stdin.isTTY && io.stdout.isTTY ? 'repl' : undefined, ...args] = positionals;
    const commandArgs = rest.slice(rest.indexOf(name ?? '') + 1);
    if (typeof values['config'] === 'string') configure({ file: values['config'] });
    if (!name || name === 'help' || values['help'] === true) {
      const topic = name === 'help' ? commands.get(args[0] ?? '') : name ? commands.get(name) : undefined;
      io.stdout.write(topic ? `usage: ${topic.usage}\n\n${topic.summary}\n` : help());
      return EXIT.ok;
    }
    const command = commands.get(name);
    if (!command) throw new UsageError(`unknown command '${name}' (commands: ${[...commands.keys()].join(', ')})`);
    const code = await command.run(commandArgs, cliIo);
    return controller.signal.aborted && code !== EXIT.ok ? EXIT.interrupted : code;
  } catch (error) {
    const code = reportError(error, cliIo);
    if (error instanceof UsageError && !json) io.stderr.write(`run \`ferry help\` for usage\n`);
    return controller.signal.aborted ? EXIT.interrupted : code;
  } finally {
    process.off('SIGINT', onSigint);
    await disconnect();
  }
}

// `bin/ferry.mjs` calls main() itself; this is for `deno run -A cli/main.ts`,
// `bun cli/main.ts` and `node --import tsx cli/main.ts` in a checkout.
const runAsScript = (import.meta as { main?: boolean }).main === true || process.argv[1]?.endsWith('/cli/main.ts');
if (runAsScript) process.exitCode = await main(process.argv.slice(2));
