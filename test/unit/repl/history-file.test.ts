import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { REPLServer } from 'node:repl';
import { historyFile, persistHistory } from '../../../repl/history-file.ts';

test('the history file: FERRY_REPL_HISTORY, ~/.ferry_repl_history, or none', () => {
  assert.equal(historyFile({ FERRY_REPL_HISTORY: '/tmp/h' }), '/tmp/h');
  assert.equal(historyFile({ FERRY_REPL_HISTORY: '' }), undefined);
  assert.match(historyFile({}) ?? '', /\/\.ferry_repl_history$/);
});

test('earlier sessions come back on ↑, and each new line is appended (no empty lines, no repeats)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-history-'));
  try {
    const file = join(dir, 'history');
    writeFileSync(file, 'first\nsecond\n');
    const server = Object.assign(new EventEmitter(), { history: [] as string[] });
    persistHistory(server as unknown as REPLServer, file);
    assert.deepEqual(server.history, ['second', 'first'], 'newest first, as readline keeps it');
    for (const line of ['second', '.watch', '', '.watch', 'await host("a").vms()']) server.emit('line', line);
    assert.equal(readFileSync(file, 'utf8'), 'first\nsecond\n.watch\nawait host("a").vms()\n');
    assert.equal(statSync(file).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
