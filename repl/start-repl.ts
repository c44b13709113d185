import repl, { Recoverable, type REPLEval, type REPLServer } from 'node:repl';
import * as sdk from '../sdk/index.ts';
import { FerryError, host, hosts } from '../sdk/index.ts';
import { awaitBody, evalWithAwait, probeTopLevelAwait } from './await-shim.ts';
import { splitWords, type WatchFilter } from './command-args.ts';
import { completeLine, type CompletionSources } from './completion.ts';
import { DOT_COMMANDS, suggestCommand, type ReplSession } from './dot-commands.ts';
import { FleetCache } from './fleet-cache.ts';
import { formatError, formatMigrationResult, formatValue } from './format-value.ts';
import { historyFile, persistHistory } from './history-file.ts';
import { MigrationRegistry, type TrackedMigration } from './migration-registry.ts';
import { trackMigrations } from './track-migrations.ts';
import { WatchSession } from './watch/watch-session.ts';

export interface ReplOptions {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  /** Line editing, completion, the live view; default: whether output is a TTY. */
  terminal?: boolean;
  /** The history file; default FERRY_REPL_HISTORY or ~/.ferry_repl_history; null keeps none. */
  historyFile?: string | null;
}

const BUILTIN_COMMANDS = ['break', 'clear', 'editor', 'exit', 'help', 'load', 'save'];

/**
 * `ferry repl`: a JavaScript REPL (node:repl) with top-level await and the
 * SDK preloaded, dot-commands to list, migrate, run QMP and watch, and
 * completion of host, VM and QMP command names. Resolves when it is left
 * (after this REPL's own migrations have ended: they need its connections).
 *
 * @example
 * await startRepl();
 */
export async function startRepl(options: ReplOptions = {}): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const terminal = options.terminal ?? output.isTTY === true;
  const registry = new MigrationRegistry();
  const cache = new FleetCache();
  const untrack = trackMigrations(registry);
  let watching = false;
  // Set while an input line runs; the REPL shows its prompt again when it is done (also after an error).
  let evaluating = false;
  // Migrations that ended while a line ran or the view was up; told when the prompt comes back,
  // unless the line's own value or error already was that result (an awaited migration).
  const held: TrackedMigration[] = [];
  const shown = new WeakSet<object>();

  const names = hosts().map((h) => h.name);
  output.write(`ferry REPL · hosts: ${names.join(', ') || 'none (configure() or FERRY_CONFIG)'} · .help for commands\n`);
  output.write(`  preloaded: host(), hosts(), configure(), fleet.<host>; e.g. await host('${names[0] ?? 'a'}').vms()\n`);
  const server = repl.start({
    prompt: 'ferry> ', input, output, terminal, useGlobal: true, ignoreUndefined: true, preview: false,
    writer: (value: unknown) => {
      if (typeof value === 'object' && value !== null) shown.add(value);
      return formatValue(value, terminal);
    },
  });
  preload(server);
  // Node puts "Uncaught:" on a line of its own before an error line longer than this: keep errors on one line.
  const defaultWriter = (repl as { writer?: { options?: { breakLength?: number } } }).writer;
  if (defaultWriter?.options) defaultWriter.options.breakLength = Number.POSITIVE_INFINITY;

  const print = (text: string) => {
    // A line that arrives while the prompt waits goes above it, and the prompt comes back.
    if (terminal && !evaluating) output.write('\r\x1b[2K');
    output.write(`${text}\n`);
  };
  const announce = (tracked: TrackedMigration) => {
    cache.invalidate();
    print(tracked.result ? formatMigrationResult(tracked.result) : `${tracked.label} → ${tracked.destination}: ${formatError(tracked.error).replace(/^ferry: /, '')}`);
  };
  registry.onEnd((tracked) => {
    if (watching || evaluating) held.push(tracked);
    else {
      announce(tracked);
      server.displayPrompt(true);
    }
  });
  const flushHeld = () => {
    for (const tracked of held.splice(0)) {
      const outcome = tracked.result ?? tracked.error;
      if (!(typeof outcome === 'object' && outcome !== null && shown.has(outcome))) announce(tracked);
    }
  };

  const session: ReplSession = {
    print,
    busy: () => (evaluating = true),
    registry,
    cache,
    async watch(filter: WatchFilter) {
      watching = true;
      try {
        const view = new WatchSession({ input, output, terminal }, registry, cache.hostNames(), filter);
        const log = await view.run();
        if (!terminal) for (const line of log) print(`» ${line}`);
      } finally {
        watching = false;
      }
    },
  };
  defineDotCommands(server, session);
  const lineOver = await wrapEval(server, () => (evaluating = true), (error) => shown.add(error));
  const displayPrompt = server.displayPrompt.bind(server);
  server.displayPrompt = (preserveCursor?: boolean) => {
    evaluating = false;
    lineOver();
    if (!watching) flushHeld();
    displayPrompt(preserveCursor);
  };
  installCompleter(server, completionSources(cache, registry));
  const history = options.historyFile === null ? undefined : (options.historyFile ?? historyFile());
  if (history) persistHistory(server, history);

  await new Promise<void>((resolve) => server.on('exit', resolve));
  const inFlight = registry.inFlight();
  if (inFlight.length > 0) {
    output.write(`waiting for ${inFlight.map((t) => `${t.label} → ${t.destination}`).join(', ')} to end (this process drives it)…\n`);
    await Promise.allSettled(inFlight.map((t) => t.migration.then(() => undefined)));
  }
  untrack();
}

/** The SDK and the fleet, as globals of the REPL. */
function preload(server: REPLServer): void {
  const globals = server.context as Record<string, unknown>;
  Object.assign(globals, { ferry: sdk, host, hosts, configure: sdk.configure, disconnect: sdk.disconnect, readMigrationRecords: sdk.readMigrationRecords });
  // `fleet.a` is host('a'); re-read on each use, so configure() takes effect.
  globals['fleet'] = new Proxy({}, {
    get: (_target, key) => (typeof key === 'string' && hosts().some((h) => h.name === key) ? host(key) : undefined),
    ownKeys: () => hosts().map((h) => h.name),
    getOwnPropertyDescriptor: (_target, key) => (typeof key === 'string' && hosts().some((h) => h.name === key) ? { enumerable: true, configurable: true, value: host(key) } : undefined),
  });
}

function defineDotCommands(server: REPLServer, session: ReplSession): void {
  for (const command of DOT_COMMANDS) {
    server.defineCommand(command.name, {
      help: command.help,
      action(this: REPLServer, rest: string) {
        let work: Promise<void>;
        session.busy();
        try {
          work = command.run(splitWords(rest), session);
        } catch (error) {
          work = Promise.reject(error);
        }
        work
          .catch((error: unknown) => session.print(formatError(error)))
          .finally(() => this.displayPrompt());
      },
    });
  }
  // An unknown `.word` gets one line that names the closest command, instead of "Invalid REPL keyword".
  const known = server.commands as Record<string, repl.REPLCommand | undefined>;
  const names = () => Object.keys(known);
  const unknown = (keyword: string): repl.REPLCommand => ({
    help: '',
    action(this: REPLServer) {
      const guess = suggestCommand(keyword, names());
      session.print(`ferry: unknown command .${keyword}${guess ? ` — did you mean .${guess}?` : ''} (.help lists them)`);
      this.displayPrompt();
    },
  });
  const commands = new Proxy(known, {
    get: (target, key) => (typeof key === 'string' && /^[\w-]+$/.test(key) && !(key in target) && key !== 'then' ? unknown(key) : Reflect.get(target, key)),
  });
  Object.defineProperty(server, 'commands', { value: commands, configurable: true, writable: true });
}

/**
 * Wraps the REPL's eval: top-level await where the runtime's REPL lacks it,
 * and an error as one line (the whole stack with FERRY_DEBUG). Node hands
 * most errors to the REPL's domain instead, which prints them with the
 * writer: formatValue keeps those to one line too.
 */
async function wrapEval(server: REPLServer, begin: () => void, printed: (error: Error) => void): Promise<() => void> {
  type Callback = (error: Error | null, value?: unknown) => void;
  const nativeEval = server.eval.bind(server);
  const hasAwait = await probeTopLevelAwait((code, callback) => nativeEval(code, server.context, 'probe', (error, value) => callback(error, value)));
  const output = server.output as NodeJS.WritableStream;
  const run = (code: string, context: object, file: string, callback: Callback): void => {
    begin();
    const done: Callback = (error, value) => {
      if (error && !(error instanceof Recoverable)) {
        printed(error);
        output.write(`${oneLine(error)}\n`);
        if (process.env['FERRY_DEBUG']) output.write(`${error.stack}\n`);
        return callback(null, undefined);
      }
      callback(error, value);
    };
    if (!hasAwait && awaitBody(code) !== undefined) {
      evalWithAwait(code).then((value) => done(null, value), (error: unknown) => done(error instanceof Error ? error : new Error(String(error))));
      return;
    }
    try {
      nativeEval(code, context, file, done);
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
    }
  };
  // Without the REPL's own top-level await, lines pasted together must still
  // run one after the other; a line is over when it calls back or the prompt returns.
  let previous: Promise<void> = Promise.resolve();
  let finishCurrent: (() => void) | undefined;
  const wrapped = (code: string, context: object, file: string, callback: Callback): void => {
    if (hasAwait) return run(code, context, file, callback);
    previous = previous.then(
      () =>
        new Promise<void>((resolve) => {
          finishCurrent = resolve;
          run(code, context, file, (error, value) => {
            resolve();
            callback(error, value);
          });
        }),
    );
  };
  (server as { eval: REPLEval }).eval = wrapped as REPLEval;
  return () => finishCurrent?.();
}

function oneLine(error: Error): string {
  if (error instanceof FerryError) return formatError(error);
  return `Uncaught ${error.name}: ${error.message.split('\n')[0]}`;
}

function completionSources(cache: FleetCache, registry: MigrationRegistry): CompletionSources {
  return {
    hostNames: () => cache.hostNames(),
    vmNames: (name) => cache.vmNames(name),
    qmpCommands: (name, vm) => cache.qmpCommands(name, vm),
    cancellable: () => registry.inFlight().map((t) => t.label),
    inFlight: () => registry.inFlight().map((t) => t.label),
    dotCommands: () => [...DOT_COMMANDS.map((c) => c.name), ...BUILTIN_COMMANDS],
  };
}

/** Ours first (dot-commands, names); JavaScript completion (the REPL's own) for the rest. */
function installCompleter(server: REPLServer, sources: CompletionSources): void {
  type Callback = (error: Error | null, result?: [string[], string]) => void;
  const target = server as unknown as { completer: (line: string, callback: Callback) => void };
  const javascript = target.completer.bind(server);
  target.completer = (line, callback) => {
    completeLine(line, sources).then(
      (result) => (result ? callback(null, result) : javascript(line, callback)),
      () => javascript(line, callback),
    );
  };
}
