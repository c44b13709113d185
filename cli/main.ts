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
import { command as recover } from './commands/recover.ts';

const commands = new Map<string, CliCommand>([ls, status, migrate, recover, qmp, repl, evacuate, run].map((c) => [c.name, c]));

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
  // SIGTERM (timeout, systemd, CI) and SIGHUP (a closed terminal) roll back like Ctrl-C.
  // A second one does not cut the rollback short; a third quits at once, and the
  // hosts' guards finish what ferry leaves (they act when its sessions end).
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals >= 3) process.exit(EXIT.interrupted);
    if (signals === 2) {
      io.stderr.write(`\nferry: ${name}: still rolling back; once more quits at once (the hosts' guards then finish it)\n`);
      return;
    }
    io.stderr.write(`\nferry: ${name === 'SIGINT' ? 'interrupted' : name}, rolling back\n`);
    controller.abort(`interrupted by ${name === 'SIGINT' ? 'Ctrl-C' : name}`);
  };
  const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const name of stopSignals) process.on(name, onSignal);
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
    for (const name of stopSignals) process.off(name, onSignal);
    await disconnect();
  }
}

const invokedDirectly = process.argv[1]?.endsWith('/bin/ferry.mjs') || process.argv[1]?.endsWith('/cli/main.ts') || ('Deno' in globalThis && import.meta.url.endsWith('/cli/main.ts'));
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));
