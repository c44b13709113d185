import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FerryError } from '../../../sdk/ferry-error.ts';
import {
  preview,
  QmpCommandError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpStateError,
  QmpTimeoutError,
} from '../../../sdk/qmp/qmp-errors.ts';

describe('QMP errors', () => {
  it('all are FerryErrors with stable codes', () => {
    const errors: QmpError[] = [
      new QmpCommandError({ command: 'stop', errorClass: 'GenericError', description: 'x' }),
      new QmpProtocolError({ problem: 'x', received: 'y' }),
      new QmpStateError({ method: 'execute', state: 'closed', allowed: ['running'] }),
      new QmpDisconnectedError({ command: 'stop', reason: 'gone' }),
      new QmpTimeoutError({ command: 'stop', timeoutMs: 5 }),
    ];
    assert.deepEqual(
      errors.map((error) => [error instanceof FerryError, error.code, error.name]),
      [
        [true, 'QMP_COMMAND_FAILED', 'QmpCommandError'],
        [true, 'QMP_PROTOCOL', 'QmpProtocolError'],
        [true, 'QMP_STATE', 'QmpStateError'],
        [true, 'QMP_DISCONNECTED', 'QmpDisconnectedError'],
        [true, 'QMP_TIMEOUT', 'QmpTimeoutError'],
      ],
    );
  });

  it('a command error says what was sent and what QEMU answered', () => {
    const error = new QmpCommandError({
      command: 'migrate',
      arguments: { uri: 'tcp:10.0.0.2:4444' },
      errorClass: 'GenericError',
      description: 'There is a migration process in progress',
      label: 'a/web',
    });
    assert.equal(
      error.message,
      'a/web: QMP "migrate" {"uri":"tcp:10.0.0.2:4444"} failed: GenericError: There is a migration process in progress',
    );
    assert.equal(error.errorClass, 'GenericError');
    assert.deepEqual(error.toJSON()['arguments'], { uri: 'tcp:10.0.0.2:4444' });
  });

  it('a protocol error truncates what it received', () => {
    const error = new QmpProtocolError({ problem: 'malformed JSON', received: 'x'.repeat(10_000) });
    assert.ok(error.received.length < 250);
    assert.match(error.message, /\(10000 chars\)$/);
  });

  it('a disconnect names the pending command and the reason', () => {
    const error = new QmpDisconnectedError({ command: 'query-migrate', reason: 'QEMU closed the connection', label: 'b/db' });
    assert.equal(error.message, 'b/db: QMP connection closed while waiting for the reply to "query-migrate": QEMU closed the connection');
  });

  it('a timeout says what it waited for and how long', () => {
    assert.equal(
      new QmpTimeoutError({ command: 'query-status', timeoutMs: 30000 }).message,
      'no reply to "query-status" within 30000ms',
    );
  });

  it('preview keeps messages on one line', () => {
    assert.equal(preview('a\r\n  b'), 'a b');
    assert.equal(preview({ a: 1 }), '{"a":1}');
  });
});
