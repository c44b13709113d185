// The offline record checker against records the guest's own C code wrote
// (test/lab/debian/records.h, generation 0123456789abcdef): it accepts them,
// and catches a changed byte, a missing record and a torn tail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRecords } from '../../lab/debian-disk.ts';

const written = [
  '000000000001 0123456789abcdef 9f143cdef6e1b1fa140d1de427f63fab 276a2af5\n',
  '000000000002 0123456789abcdef 3d4db615773f35c519be6f3d273b145f 74bd2353\n',
  '000000000003 0123456789abcdef db85284bf474b9d077645a684fd15753 bcc8a000\n',
];

test('checkRecords: records as the guest writes them are intact', () => {
  assert.deepEqual(checkRecords(Buffer.from(written.join(''))), { records: 3, firstBad: undefined, tornTail: 0 });
  assert.deepEqual(checkRecords(Buffer.alloc(0)), { records: 0, firstBad: undefined, tornTail: 0 });
});

test('checkRecords: a changed byte, a missing record, a torn tail', () => {
  const changed = written.join('').replace('3d4db615', '3d4db616');
  assert.equal(checkRecords(Buffer.from(changed)).firstBad, 2);
  assert.equal(checkRecords(Buffer.from(written[0]! + written[2]!)).firstBad, 2);
  const torn = checkRecords(Buffer.from(written.join('') + written[0]!.slice(0, 30)));
  assert.deepEqual(torn, { records: 3, firstBad: undefined, tornTail: 30 });
});
