import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { ferryConfigSchema } from '../../../sdk/model/config-schema.ts';
import { MIGRATION_OPTIONS_SCHEMA } from '../../../sdk/migration/migration-options.ts';

// ferry compiles these without checking them against draft-07 (a cost paid by every process
// start), so they are checked here, once, with the strictness each is compiled with.
test('the config schema is a valid draft-07 schema', () => {
  const ajv = new Ajv({ strict: true });
  assert.equal(ajv.validateSchema(ferryConfigSchema), true, JSON.stringify(ajv.errors));
});

test('the migration options schema is a valid draft-07 schema', () => {
  const ajv = new Ajv({ strict: false });
  assert.equal(ajv.validateSchema(MIGRATION_OPTIONS_SCHEMA), true, JSON.stringify(ajv.errors));
});

test('a schema the meta-schema refuses is caught by this check', () => {
  assert.equal(new Ajv({ strict: true }).validateSchema({ type: 'object', properties: { a: { type: 'numbr' } } }), false);
});
