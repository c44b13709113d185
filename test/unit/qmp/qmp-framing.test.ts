import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyMessage, parseGreeting, QmpLineParser, serializeCommand } from '../../../sdk/qmp/qmp-framing.ts';
import { QmpProtocolError } from '../../../sdk/qmp/qmp-errors.ts';

const collect = (parser: QmpLineParser, ...chunks: string[]): unknown[] =>
  chunks.flatMap((chunk) => [...parser.push(Buffer.from(chunk))]);

describe('QmpLineParser', () => {
  it('parses CRLF-terminated lines, several per chunk, and skips blank lines', () => {
    const parser = new QmpLineParser();
    assert.deepEqual(collect(parser, '{"return": {}, "id": 1}\r\n\r\n{"event": "STOP"}\r\n'), [
      { return: {}, id: 1 },
      { event: 'STOP' },
    ]);
  });

  it('joins a message split across chunks, including inside a multi-byte character', () => {
    const parser = new QmpLineParser();
    const bytes = Buffer.from('{"return": "héllo"}\n');
    const split = bytes.indexOf(0xc3) + 1; // between the two bytes of é
    const messages = [...parser.push(bytes.subarray(0, split)), ...parser.push(bytes.subarray(split))];
    assert.deepEqual(messages, [{ return: 'héllo' }]);
    assert.equal(parser.bufferedBytes, 0);
  });

  it('rejects malformed JSON with a QmpProtocolError showing what came', () => {
    const parser = new QmpLineParser({ label: 'a/web' });
    assert.throws(
      () => collect(parser, '{"return": \n'),
      (error: unknown) =>
        error instanceof QmpProtocolError && /a\/web: .*malformed JSON/.test(error.message) && error.received === '{"return":',
    );
    // The stream is out of sync from here on: every later push fails too.
    assert.throws(() => collect(parser, '{"return": {}}\n'), QmpProtocolError);
  });

  it('yields the good messages before a bad line', () => {
    const parser = new QmpLineParser();
    const seen: unknown[] = [];
    assert.throws(() => {
      for (const message of parser.push(Buffer.from('{"id": 1, "return": 1}\nnot json\n'))) seen.push(message);
    }, QmpProtocolError);
    assert.deepEqual(seen, [{ id: 1, return: 1 }]);
  });

  it('rejects JSON that is not an object', () => {
    assert.throws(() => collect(new QmpLineParser(), '[1,2]\n'), /expected a JSON object/);
    assert.throws(() => collect(new QmpLineParser(), '42\n'), /expected a JSON object/);
  });

  it('bounds an endless line without a newline', () => {
    const parser = new QmpLineParser({ maxLineBytes: 1024 });
    const chunk = 'x'.repeat(300);
    assert.throws(() => collect(parser, chunk, chunk, chunk, chunk), /exceeded 1024 bytes without a newline/);
    assert.equal(parser.bufferedBytes, 0, 'the partial line is released');
  });

  it('accepts a line of exactly the limit', () => {
    const parser = new QmpLineParser({ maxLineBytes: 12 });
    assert.deepEqual(collect(parser, '{"return":1}\n'), [{ return: 1 }]);
  });

  it('defaults to a 16 MiB limit', () => {
    assert.equal(new QmpLineParser().maxLineBytes, 16 * 1024 * 1024);
  });
});

describe('serializeCommand', () => {
  it('writes one line, omitting absent arguments', () => {
    assert.equal(serializeCommand({ execute: 'stop', id: 7 }), '{"execute":"stop","id":7}\n');
    assert.equal(
      serializeCommand({ execute: 'migrate', arguments: { uri: 'tcp:b:4444' }, id: 8 }),
      '{"execute":"migrate","arguments":{"uri":"tcp:b:4444"},"id":8}\n',
    );
  });
});

describe('parseGreeting', () => {
  const good = { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'Debian' }, capabilities: ['oob'] } };

  it('accepts a QEMU greeting', () => {
    assert.deepEqual(parseGreeting(good), good);
  });

  it('rejects anything else, saying what it received', () => {
    assert.throws(() => parseGreeting({ return: {} }), /expected a QMP greeting.*received: \{"return":\{\}\}/);
    assert.throws(() => parseGreeting({ QMP: { version: { qemu: { major: '7' } }, capabilities: [] } }), QmpProtocolError);
  });
});

describe('classifyMessage', () => {
  it('tells events, replies, errors and junk apart', () => {
    assert.equal(classifyMessage({ event: 'STOP', timestamp: {} }).kind, 'event');
    assert.deepEqual(classifyMessage({ return: { a: 1 }, id: 3 }), { kind: 'return', id: 3, value: { a: 1 } });
    assert.deepEqual(classifyMessage({ error: { class: 'GenericError', desc: 'no' }, id: 4 }), {
      kind: 'error',
      id: 4,
      errorClass: 'GenericError',
      description: 'no',
    });
    assert.equal(classifyMessage({ error: 'nope', id: 5 }).kind, 'malformed-reply');
    assert.equal(classifyMessage({ id: 6 }).kind, 'malformed-reply');
    assert.equal(classifyMessage({ event: 42 }).kind, 'malformed-reply');
    assert.equal(classifyMessage({ QMP: {} }).kind, 'greeting');
  });
});
