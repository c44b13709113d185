import { appendFileSync, closeSync, existsSync, mkdirSync, readdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import { UsageError, type CliCommand, type CliIo } from '../cli-command.ts';
import { didYouMean } from '../did-you-mean.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { exitCodeFor } from '../report-error.ts';

/** What a recipe receives besides its arguments (recipes declare the same shape themselves). */
export interface RunContext {
  signal: AbortSignal;
  /** The recipe's append-only journal, shared by all its runs: an interrupted run resumes from it. */
  journal: string;
  runId: string;
  log(message: string): void;
}

type Recipe = (args: string[], context: RunContext) => Promise<unknown>;

const recipesDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../recipes');
/** `.ts` in a checkout, `.js` in the built package: recipes sit beside this file's kind. */
const recipeExtension = extname(fileURLToPath(import.meta.url));

export const command: CliCommand = {
  name: 'run',
  summary: 'run a recipe once, or on a schedule with --cron',
  usage: `ferry run RECIPE [recipe args] [--cron "0 3 * * 6"] [--state-dir DIR]
    RECIPE             a name from recipes/ (evacuate-host, rebalance, rolling-upgrade) or a file path
    --cron EXPR        keep running it on this schedule (croner syntax; 6 fields = seconds)
    --state-dir DIR    where the lock, journal and reports go (default FERRY_STATE_DIR, else ~/.local/state/ferry)
Each run takes a lock (two runs of one recipe never overlap), appends to the
recipe's journal, and writes a JSON report under DIR/runs/RECIPE/reports/.`,
  async run(args, io) {
    const { own, rest } = splitOwnFlags(args);
    const [name, ...recipeArgs] = rest;
    if (!name) throw new UsageError('expected a recipe (evacuate-host, rebalance, rolling-upgrade, or a file)');
    const file = recipeFile(name);
    const recipeName = basename(file).replace(/\.[cm]?[jt]s$/, '');
    const stateDir = resolve(own.stateDir ?? defaultStateDir());
    const dir = join(stateDir, 'runs', recipeName);
    const loaded = (await import(pathToFileURL(file).href)) as { default?: unknown };
    if (typeof loaded.default !== 'function') throw new UsageError(`${file} has no default export to run`);
    const recipe = loaded.default as Recipe;
    const once = () => runOnce(recipe, recipeName, recipeArgs, dir, io);
    if (!own.cron) return once();
    return schedule(own.cron, once, io);
  },
};

/** `--cron X` and `--state-dir X` are ferry's, anywhere; everything else is the recipe's. */
function splitOwnFlags(args: string[]): { own: { cron?: string; stateDir?: string }; rest: string[] } {
  const own: { cron?: string; stateDir?: string } = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag !== '--cron' && flag !== '--state-dir') {
      rest.push(arg);
      continue;
    }
    const value = inline ?? args[++i];
    if (!value) throw new UsageError(`${flag} takes a value`);
    if (flag === '--cron') own.cron = value;
    else own.stateDir = value;
  }
  return { own, rest };
}

function recipeFile(name: string): string {
  if (name.includes('/') || /\.[cm]?[jt]s$/.test(name)) {
    if (!existsSync(name)) throw new UsageError(`no recipe file ${resolve(name)}`);
    return resolve(name);
  }
  const file = join(recipesDir, `${name}${recipeExtension}`);
  if (/^[a-z0-9][a-z0-9-]*$/.test(name) && existsSync(file)) return file;
  const known = builtInRecipes();
  throw new UsageError(`no recipe called ${JSON.stringify(name)}${didYouMean(name, known)} (recipes: ${known.join(', ')}, or a file path)`);
}

/** The recipes shipped in recipes/, by name. */
function builtInRecipes(): string[] {
  return readdirSync(recipesDir).filter((file) => file.endsWith(recipeExtension) && !file.endsWith(`.d${recipeExtension}`)).map((file) => file.slice(0, -recipeExtension.length)).sort();
}

function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['FERRY_STATE_DIR'] ?? join(env['XDG_STATE_HOME'] ?? join(homedir(), '.local', 'state'), 'ferry');
}

/** One run: lock, journal its begin and end, run the recipe, write its report. */
async function runOnce(recipe: Recipe, name: string, args: string[], dir: string, io: CliIo): Promise<ExitCode> {
  mkdirSync(join(dir, 'reports'), { recursive: true });
  const lock = takeLock(join(dir, 'lock'));
  if (!lock.ok) {
    io.stderr.write(`ferry run: ${name} is already running (${lock.holder}); not starting another\n`);
    return EXIT.failed;
  }
  const runId = randomUUID();
  const journal = join(dir, 'journal.jsonl');
  const note = (entry: Record<string, unknown>) => appendFileSync(journal, `${JSON.stringify({ at: new Date().toISOString(), run: runId, ...entry })}\n`);
  const startedAt = new Date();
  note({ kind: 'run-begin', recipe: name, args, pid: process.pid });
  const log = (message: string) => io.stderr.write(`${new Date().toISOString().slice(11, 19)} ${name}: ${message}\n`);
  let status = 'completed';
  let result: unknown;
  let error: { name: string; message: string } | undefined;
  // A recipe says how it ended with its result's `exitCode` (one of EXIT), or by what it throws.
  let exitCode: ExitCode | undefined;
  try {
    result = await recipe(args, { signal: io.signal, journal, runId, log });
    const reported = (result as { status?: unknown } | undefined)?.status;
    if (typeof reported === 'string') status = reported;
    const code = (result as { exitCode?: unknown } | undefined)?.exitCode;
    if ((Object.values(EXIT) as unknown[]).includes(code)) exitCode = code as ExitCode;
  } catch (caught) {
    status = 'failed';
    exitCode = exitCodeFor(caught);
    error = { name: caught instanceof Error ? caught.name : 'Error', message: caught instanceof Error ? caught.message : String(caught) };
    log(`failed: ${error.message}`);
  } finally {
    lock.release();
  }
  const report = { runId, recipe: name, args, startedAt: startedAt.toISOString(), endedAt: new Date().toISOString(), status, ...(error && { error }), result };
  const reportFile = join(dir, 'reports', `${startedAt.toISOString().replace(/[:.]/g, '-')}-${runId.slice(0, 8)}.json`);
  writeFileSync(reportFile, JSON.stringify(report, null, 2) + '\n');
  note({ kind: 'run-end', status, report: reportFile });
  if (io.json) io.stdout.write(JSON.stringify({ ok: status === 'completed' || status === 'planned', report: reportFile, status, result }) + '\n');
  else io.stdout.write(`${name}: ${status}; report ${reportFile}\n`);
  if (io.signal.aborted) return EXIT.interrupted;
  return exitCode ?? (status === 'completed' || status === 'planned' ? EXIT.ok : EXIT.failed);
}

/**
 * A lock file made with O_EXCL holding the owner's host and pid. A lock
 * whose owner on this machine is gone (killed mid-run) is taken over: the
 * journal, not the lock, carries what that run had done.
 */
function takeLock(path: string): { ok: true; release: () => void } | { ok: false; holder: string } {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ host: hostname(), pid: process.pid, since: new Date().toISOString() }));
      closeSync(fd);
      return { ok: true, release: () => rmSync(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: { host?: string; pid?: number } = {};
    try {
      holder = JSON.parse(readFileSync(path, 'utf8')) as typeof holder;
    } catch {
      // being written, or torn: treat as held
    }
    const alive = holder.host !== hostname() || (typeof holder.pid === 'number' && pidAlive(holder.pid));
    if (alive) return { ok: false, holder: `pid ${holder.pid ?? '?'} on ${holder.host ?? '?'}` };
    rmSync(path, { force: true });
  }
  return { ok: false, holder: 'a lock that keeps coming back' };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs on the schedule until Ctrl-C; a tick that finds the previous run still going is skipped. */
async function schedule(expression: string, once: () => Promise<ExitCode>, io: CliIo): Promise<ExitCode> {
  let job: Cron;
  try {
    job = new Cron(expression, { protect: (skipped) => io.stderr.write(`ferry run: skipping the ${skipped.currentRun()?.toISOString() ?? ''} run: the previous one is still going\n`) }, async () => {
      await once();
      const next = job.nextRun();
      if (next && !io.json) io.stderr.write(`ferry run: next run at ${next.toISOString()}\n`);
    });
  } catch (error) {
    throw new UsageError(`--cron ${JSON.stringify(expression)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!io.json) io.stderr.write(`ferry run: scheduled "${expression}", first run at ${job.nextRun()?.toISOString() ?? 'never'} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  job.stop();
  // Let a run in progress wind down (it sees the same signal).
  while (job.isBusy()) await new Promise((resolve) => setTimeout(resolve, 100));
  return EXIT.ok;
}
