// `ferry`: the command line. Subcommands live in cli/commands/<name>.ts.
import { configure, disconnect } from '../sdk/index.ts';
import { UsageError, type CliCommand, type CliIo } from './cli-command.ts';
import { didYouMean } from './did-you-mean.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { ferryVersion } from './ferry-version.ts';
import { splitGlobalFlags } from './global-flags.ts';
import { reportError } from './report-error.ts';
import { command as ls } from './commands/ls.ts';
import { command as migrate } from './commands/migrate.ts';
import { command as qmp } from './commands/qmp.ts';
import { command as repl } from './commands/repl.ts';
import { command as status } from './commands/status.ts';
import { command as evacuate } from './commands/evacuate.ts';
import { command as run } from './commands/run.ts';
import { command as recover } from './commands/recover.ts';
import { command as completion } from './commands/completion.ts';
import { completeCommand } from './commands/complete.ts';

const commands = new Map<string, CliCommand>([ls, status, migrate, recover, qmp, repl, evacuate, run, completion].map((c) => [c.name, c]));
commands.set('__complete', completeCommand(commands));

/** Registers a subcommand (recipes, repl and evacuation add theirs). */
export function addCommand(command: CliCommand): void {
  commands.set(command.name, command);
}

/** Every registered subcommand by name, hidden ones included. */
export function registeredCommands(): ReadonlyMap<string, CliCommand> {
  return commands;
}

function visibleCommands(): CliCommand[] {
  return [...commands.values()].filter((c) => !c.hidden);
}

function help(): string {
  const lines = visibleCommands().map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return `ferry ${ferryVersion()}: live-migrate running QEMU VMs between hosts

usage: ferry [--config FILE] [--json] COMMAND [args]
       ferry --version | --help | help COMMAND

commands:
${lines.join('\n')}

Hosts come from --config, FERRY_CONFIG, or ./ferry.json. Run \`ferry help COMMAND\` for a command's options.
--json: one JSON object on stdout (errors too); progress and notes go to stderr.
Exit codes: 0 ok, 1 failed (VM on the source), 2 bad input, 3 host unreachable,
4 VM state unknown (check both hosts), 5 cancelled or timed out (VM on the source), 130 interrupted.
`;
}

/** `ferry help [COMMAND]` and `--help`: text, or with --json the commands as data. */
function writeHelp(topicName: string | undefined, io: CliIo): ExitCode {
  if (topicName === undefined) {
    const list = visibleCommands().map(({ name, summary, usage }) => ({ name, summary, usage }));
    io.stdout.write(io.json ? JSON.stringify({ ok: true, version: ferryVersion(), commands: list }) + '\n' : help());
    return EXIT.ok;
  }
  const topic = commands.get(topicName);
  if (!topic) throw unknownCommand(topicName);
  io.stdout.write(io.json ? JSON.stringify({ ok: true, name: topic.name, summary: topic.summary, usage: topic.usage }) + '\n' : `usage: ${topic.usage}\n\n${topic.summary}\n`);
  return EXIT.ok;
}

function unknownCommand(name: string): UsageError {
  const names = visibleCommands().map((c) => c.name);
  return new UsageError(`unknown command '${name}'${didYouMean(name, [...names, 'help']) || ` (commands: ${names.join(', ')})`}`);
}

/** Runs ferry with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Omit<CliIo, 'json' | 'signal'> = { stdout: process.stdout, stderr: process.stderr }): Promise<ExitCode> {
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
  // Completion passes the words being typed, flags and all: they are not ferry's flags.
  const completing = argv[0] === '__complete';
  const cliIo: CliIo = { ...io, json: !completing && argv.includes('--json'), signal: controller.signal };
  let commandName: string | undefined;
  try {
    const invocation = completing ? { config: undefined, json: false, help: false, version: false, command: argv[0], args: argv.slice(1) } : splitGlobalFlags(argv);
    cliIo.json = invocation.json;
    if (invocation.version) {
      io.stdout.write(invocation.json ? JSON.stringify({ ok: true, version: ferryVersion() }) + '\n' : `${ferryVersion()}\n`);
      return EXIT.ok;
    }
    if (invocation.config !== undefined) configure({ file: invocation.config });
    // `ferry` alone on a terminal opens the REPL.
    const name = invocation.command ?? (!invocation.help && process.stdin.isTTY && io.stdout.isTTY ? 'repl' : undefined);
    if (name === undefined || name === 'help') return writeHelp(name === 'help' ? invocation.args[0] : undefined, cliIo);
    if (invocation.help) return writeHelp(name, cliIo);
    const command = commands.get(name);
    if (!command) throw unknownCommand(name);
    commandName = command.name;
    const code = await command.run(invocation.args, cliIo);
    return controller.signal.aborted && code !== EXIT.ok ? EXIT.interrupted : code;
  } catch (error) {
    const hint = error instanceof UsageError ? (commandName ? `\`ferry help ${commandName}\`` : '`ferry help`') : undefined;
    const code = reportError(error, cliIo, hint);
    return controller.signal.aborted ? EXIT.interrupted : code;
  } finally {
    for (const name of stopSignals) process.off(name, onSignal);
    await disconnect();
  }
}

// `bin/ferry.mjs` calls main() itself; this is for `deno run -A cli/main.ts`,
// `bun cli/main.ts` and `node --import tsx cli/main.ts` in a checkout.
const runAsScript = (import.meta as { main?: boolean }).main === true || process.argv[1]?.endsWith('/cli/main.ts');
if (runAsScript) process.exitCode = await main(process.argv.slice(2));
