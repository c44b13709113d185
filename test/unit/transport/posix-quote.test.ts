import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { quote, quoteArgv, sh } from '../../../sdk/transport/posix-quote.ts';

const HOSTILE = [
  'web; rm -rf /', '$(reboot)', '`id`', "it's", "'", "''", '"double"', 'a\nb', 'tab\there', ' leading space',
  'ünïcødé 🚀 名前', '', ' ', '*', '?', '~', '~root', '-n', '-e', '!', '!!', '\\', '\\n', '$HOME', '${PATH}', '#not a comment',
  '&&', '|', '>out', '<in', ';', 'a=b', '%s', 'trailing\n', '\r\n', '\u0001\u007f', "x'; echo pwned; '",
];

/** Ask a real shell to print every word it received, NUL-terminated. */
function roundTrip(shell: string, words: readonly string[]): string[] {
  const result = spawnSync(shell, ['-c', `printf '%s\\0' ${words.map(quote).join(' ')}`], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split('\0').slice(0, -1);
}

describe('quote', () => {
  it('leaves safe bare words alone', () => {
    for (const word of ['vm1', '/run/ferry/vm-1.qmp', 'user@host:22', 'a,b=c+d%e', '-f']) assert.equal(quote(word), word);
  });

  it('single-quotes everything else, with POSIX quote escaping', () => {
    assert.equal(quote(''), "''");
    assert.equal(quote('a b'), "'a b'");
    assert.equal(quote("it's"), "'it'\\''s'");
    assert.equal(quote('$(reboot)'), "'$(reboot)'");
    assert.ok(!quote('a\nb').startsWith('$'), "never bash's $'…'");
  });

  for (const shell of ['/bin/sh', '/bin/dash', '/bin/bash'].filter((s) => existsSync(s))) {
    it(`round-trips hostile words byte for byte through ${shell}`, () => {
      assert.deepEqual(roundTrip(shell, HOSTILE), HOSTILE);
    });
  }

  it('refuses a NUL byte, which no shell argument can hold', () => {
    assert.throws(() => quote('a\0b'), TypeError);
  });
});

describe('sh template', () => {
  it('quotes each interpolation and keeps the literal parts as syntax', () => {
    assert.equal(sh`df -h ${'my disk'} | tail -1`, "df -h 'my disk' | tail -1");
  });

  it('turns arrays into several quoted words and numbers into words', () => {
    assert.equal(sh`rm -f ${['a b', 'c', "d'e"]} && sleep ${2}`, "rm -f 'a b' c 'd'\\''e' && sleep 2");
    assert.equal(sh`ls ${[]}`, 'ls ');
  });

  it('makes hostile values inert in a real shell', () => {
    const script = sh`printf '%s\\0' ${HOSTILE} ${'x'}`;
    const result = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
    assert.deepEqual(result.stdout.split('\0').slice(0, -1), [...HOSTILE, 'x']);
  });

  it('quoteArgv joins quoted words', () => {
    assert.equal(quoteArgv(['echo', 'a b', '']), "echo 'a b' ''");
  });
});
