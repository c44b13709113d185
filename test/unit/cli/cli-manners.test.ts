// The CLI's manners: every bad invocation exits 2 with one line saying what
// to do, --version, --json for every command, and shell completion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, registeredCommands } from '../../../cli/main.ts';
import { closestMatch } from '../../../cli/did-you-mean.ts';
import { completeWords } from '../../../cli/complete-words.ts';
import { EXIT } from '../../../cli/exit-codes.ts';
import { capturedStreams } from '../../support/captured-streams.ts';
import { configure } from '../../../sdk/index.ts';

const ferryBin = fileURLToPath(new URL('../../../bin/ferry.mjs', import.meta.url));
const packageVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = capturedStreams();
  const code = await main(argv, output.streams);
  return { code, stdout: output.stdout(), stderr: output.stderr() };
}

/** A config of two hosts nobody listens for: the commands fail only where they would touch a host. */
function offlineConfig(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ferry-cli-')), 'ferry.json');
  writeFileSync(file, JSON.stringify({ hosts: { alpha: { ssh: 'root@127.0.0.1:1' }, beta: { ssh: 'root@127.0.0.1:1' } } }));
  return file;
}

test('every bad invocation exits 2 with one line that says what to do', async () => {
  const config = offlineConfig();
  const cases: [string[], RegExp][] = [
    [['nosuch'], /unknown command 'nosuch' \(commands: ls, .*\) — see `ferry help`$/],
    [['mgrate'], /did you mean migrate\?/],
    [['--config'], /--config needs a file/],
    [['ls', '--config'], /--config needs a file/],
    [['--jsn', 'ls'], /unknown option --jsn; did you mean --json\?/],
    [['--config', config, 'migrate', 'alpha/web', 'beta', '--max-downtim', '300'], /unknown option --max-downtim; did you mean --max-downtime\? — see `ferry help migrate`/],
    [['--config', config, 'migrate', 'alpha/web', 'beta', '--bandwidth'], /--bandwidth needs a value/],
    [['--config', config, 'migrate', 'alpha/web', 'beta', '--dry-run=yes'], /--dry-run takes no value/],
    [['--config', config, 'evacuate', 'alpha', '--too', 'beta'], /did you mean --to\?/],
    [['--config', config, 'ls', '--all'], /unknown option --all \(this command takes no options\)/],
    [['--config', config, 'ls', 'alpha', 'beta'], /at most one host/],
    [['--config', config, 'status'], /expected HOST\/VM/],
    [['--config', config, 'qmp', 'alpha/web'], /expected a QMP command name/],
    [['run', 'nosuch'], /no recipe called "nosuch" \(recipes: evacuate-host, rebalance, rolling-upgrade, or a file path\)/],
    [['run', 'evacuate-hots'], /did you mean evacuate-host\?/],
    [['run', './no/such/recipe.ts'], /no recipe file/],
    [['repl', 'extra'], /takes no arguments/],
    [['completion', 'fish'], /no completion for "fish" \(shells: bash, zsh\)/],
    [['help', 'migrat'], /did you mean migrate\?/],
  ];
  for (const [argv, message] of cases) {
    const { code, stdout, stderr } = await run(argv);
    assert.equal(code, EXIT.usage, `ferry ${argv.join(' ')}: ${stderr}`);
    assert.equal(stdout, '', `ferry ${argv.join(' ')}: nothing on stdout`);
    assert.equal(stderr.split('\n').filter(Boolean).length, 1, `ferry ${argv.join(' ')}: one line, got ${stderr}`);
    assert.match(stderr, /^ferry: /);
    assert.match(stderr.trim(), message, `ferry ${argv.join(' ')}`);
  }
});

test('--version prints the package version, and --json makes every answer one JSON object', async () => {
  assert.deepEqual(await run(['--version']), { code: 0, stdout: `${packageVersion}\n`, stderr: '' });
  assert.equal((await run(['-V'])).stdout, `${packageVersion}\n`);
  const config = offlineConfig();
  for (const argv of [['--version'], ['help'], ['help', 'migrate'], ['completion', 'bash'], ['repl'], ['nosuch'], ['--config', config, 'ls', 'alpha'], ['--config', config, 'status', 'alpha/web'], ['--config', config, 'qmp', 'alpha/web', 'query-status'], ['--config', config, 'migrate', 'alpha/web', 'beta'], ['--config', config, 'evacuate', 'alpha', '--dry-run'], ['run', 'nosuch']]) {
    const { stdout, stderr } = await run([...argv, '--json']);
    const lines = stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `ferry ${argv.join(' ')} --json: ${stdout}${stderr}`);
    const body = JSON.parse(lines[0] ?? '') as { ok?: unknown };
    assert.equal(typeof body.ok, 'boolean', `ferry ${argv.join(' ')} --json says ok or not`);
  }
});

test('did you mean: close words only', () => {
  assert.equal(closestMatch('mirgate', ['ls', 'migrate', 'status']), 'migrate');
  assert.equal(closestMatch('stat', ['ls', 'migrate', 'status']), 'status');
  assert.equal(closestMatch('--jsn', ['--config', '--json']), '--json');
  assert.equal(closestMatch('frobnicate', ['ls', 'migrate', 'status']), undefined);
  assert.equal(closestMatch('x', ['ls', 'qmp']), undefined);
});

test('completion: commands, flags and operands from each usage line; hosts from the config', async () => {
  configure({ file: offlineConfig() });
  const all = registeredCommands();
  const names = [...all.values()].filter((c) => !c.hidden).map((c) => c.name);
  assert.deepEqual(await completeWords([''], all), [...names, 'help']);
  for (const name of ['ls', 'status', 'migrate', 'evacuate', 'run', 'completion']) assert.ok(names.includes(name), name);
  assert.ok(!names.includes('__complete'));
  assert.deepEqual(await completeWords(['migrate', ''], all), ['alpha/', 'beta/']);
  assert.deepEqual(await completeWords(['migrate', 'alpha/web', ''], all), ['alpha', 'beta']);
  assert.ok((await completeWords(['migrate', 'alpha/web', 'beta', '--b'], all)).includes('--bandwidth'));
  assert.deepEqual(await completeWords(['migrate', 'alpha/web', 'beta', '--bandwidth', ''], all), []);
  assert.deepEqual(await completeWords(['evacuate', 'alpha', '--to', ''], all), ['alpha', 'beta']);
  assert.deepEqual(await completeWords(['completion', ''], all), ['bash', 'zsh']);
  assert.ok(!(await completeWords(['help', ''], all)).includes('__complete'));
  await assert.rejects(completeWords(['status', 'alpha/'], all), 'a host that cannot be reached fails here; `ferry __complete` prints nothing');
  assert.deepEqual(await run(['__complete', 'status', 'alpha/']), { code: 0, stdout: '', stderr: '' });
});

/** Runs `script` in `shell` with a `ferry` on PATH that is this checkout's bin. */
function inShell(shell: string, script: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-shell-'));
  symlinkSync(ferryBin, join(dir, 'ferry'));
  return execFileSync(shell, ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env['PATH'] ?? ''}` } });
}

test('the bash script completes through a real bash and the ferry on PATH', () => {
  const out = inShell('bash', `source <(ferry completion bash)
compopt() { :; }   # only callable inside a real completion
try() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _ferry; echo "\${COMPREPLY[*]}"; }
try ferry mig
try ferry --config ${offlineConfig()} status ''`);
  assert.deepEqual(out.trim().split('\n'), ['migrate', 'alpha/ beta/']);
});

test('the zsh script completes through a real zsh', { skip: !existsSync('/usr/bin/zsh') && 'zsh is not installed (test/lab/install.sh installs it)' }, () => {
  const out = inShell('zsh', `# compinit rewrites its dump file: never /dev/null, which it would replace with a plain file
autoload -Uz compinit && compinit -u -d "$(mktemp -d)/zcompdump"
source <(ferry completion zsh)
compadd() { print -r -- "$*"; }   # what the function offers, one call a line
try() { words=("$@"); CURRENT=$#; _ferry; }
try ferry --config ${offlineConfig()} migrate ''
try ferry --config ${offlineConfig()} migrate alpha/web ''`);
  assert.deepEqual(out.trim().split('\n'), ['-S  -- alpha/ beta/', '--', '-S  --', '-- alpha beta']);
});
