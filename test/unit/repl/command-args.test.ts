import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMigrateArgs, parseQmpArgs, parseWatchArgs, splitWords, watchFilterMatches } from '../../../repl/command-args.ts';
import { suggestCommand } from '../../../repl/dot-commands.ts';
import { UsageError } from '../../../cli/cli-command.ts';

test('words split as a shell splits them', () => {
  assert.deepEqual(splitWords(`a/web  vnc password="s e c" 'x y' z\\ w`), ['a/web', 'vnc', 'password=s e c', 'x y', 'z w']);
  assert.deepEqual(splitWords('  '), []);
  assert.deepEqual(splitWords(`k=""`), ['k=']);
  assert.throws(() => splitWords(`a 'b`), /unclosed ' quote/);
});

test('.migrate takes the CLI flags', () => {
  assert.deepEqual(parseMigrateArgs(splitWords('a/web b --bandwidth 8MiB/s --max-downtime 500 --postcopy --multifd 2')), {
    host: 'a', vm: 'web', destination: 'b', options: { bandwidth: '8MiB/s', maxDowntime: 500, postcopy: true, multifd: 2 },
  });
  assert.throws(() => parseMigrateArgs(['a/web']), UsageError);
  assert.throws(() => parseMigrateArgs(['web', 'b']), /expected HOST\/VM/);
  assert.throws(() => parseMigrateArgs(['a/web', 'b', '--turbo']), (error: unknown) => error instanceof UsageError && /--turbo/.test(error.message) && /--bandwidth/.test(error.message));
  assert.throws(() => parseMigrateArgs(['a/web', 'b', '--max-downtime', 'soon']), /takes a number/);
});

test('.qmp takes key=value arguments, JSON where they read as JSON', () => {
  assert.deepEqual(parseQmpArgs(splitWords(`a/web migrate-set-parameters downtime-limit=500 tls-creds="" x='{"y":1}'`)), {
    host: 'a', vm: 'web', command: 'migrate-set-parameters', args: { 'downtime-limit': 500, 'tls-creds': '', x: { y: 1 } },
  });
  assert.throws(() => parseQmpArgs(['a/web']), /usage: \.qmp/);
  assert.throws(() => parseQmpArgs(['a/web', 'stop', 'oops']), /key=value/);
});

test('.watch follows all, a host or one VM', () => {
  assert.deepEqual(parseWatchArgs([]), { kind: 'all' });
  assert.deepEqual(parseWatchArgs(['all']), { kind: 'all' });
  const host = parseWatchArgs(['a']);
  const vm = parseWatchArgs(['a/web']);
  assert.deepEqual(vm, { kind: 'vm', host: 'a', vm: 'web' });
  assert.equal(watchFilterMatches(host, 'a/db'), true);
  assert.equal(watchFilterMatches(host, 'b/db'), false);
  assert.equal(watchFilterMatches(vm, 'a/web'), true);
  assert.equal(watchFilterMatches(vm, 'a/db'), false);
  assert.throws(() => parseWatchArgs(['a', 'b']), UsageError);
});

test('a mistyped dot-command gets the closest name', () => {
  const names = ['hosts', 'vms', 'migrate', 'cancel', 'qmp', 'watch', 'help', 'exit'];
  assert.equal(suggestCommand('wtach', names), 'watch');
  assert.equal(suggestCommand('wach', names), 'watch');
  assert.equal(suggestCommand('migrat', names), 'migrate');
  assert.equal(suggestCommand('hots', names), 'hosts');
  assert.equal(suggestCommand('frobnicate', names), undefined);
});
