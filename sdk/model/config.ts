import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { ferryConfigSchema, type FerryConfig } from './config-schema.ts';
import { ConfigError } from './model-errors.ts';

// No meta-schema check at run time (it cost every process ~40 ms): schemas.test.ts checks the constant schema instead.
const validate = new Ajv({ allErrors: false, strict: true, validateSchema: false }).compile<FerryConfig>(ferryConfigSchema);

/**
 * Checks a config against the schema; an invalid one is a ConfigError that
 * names the field and what was expected.
 *
 * @example
 * const config = parseConfig({ hosts: { a: { ssh: 'root@10.0.0.1' } } });
 */
export function parseConfig(value: unknown, file?: string): FerryConfig {
  if (validate(value)) return value;
  const error = validate.errors?.[0];
  throw new ConfigError(error ? describe(error) : 'invalid config', error?.instancePath || '/', file);
}

/** Reads and checks a config file (JSON). */
export function readConfigFile(path: string): FerryConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read the config file (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, '/', file, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`not valid JSON: ${(cause as Error).message}`, '/', file, { cause });
  }
  return parseConfig(value, file);
}

/**
 * The config file ferry reads when `configure()` was not called:
 * `FERRY_CONFIG` if set, else `./ferry.json` if it exists.
 */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env['FERRY_CONFIG'];
  if (fromEnv) return fromEnv;
  try {
    readFileSync('ferry.json');
    return 'ferry.json';
  } catch {
    return undefined;
  }
}

function describe(error: ErrorObject): string {
  const where = error.instancePath || '(top level)';
  switch (error.keyword) {
    case 'additionalProperties':
      return `${where}: unknown field '${String(error.params['additionalProperty'])}'`;
    case 'required':
      return `${where}: missing field '${String(error.params['missingProperty'])}'`;
    case 'enum':
      return `${where}: expected one of ${(error.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `${where}: ${error.propertyName ? `name '${error.propertyName}'` : 'value'} does not match ${String(error.params['pattern'])}`;
    default:
      return `${where}: ${error.message ?? 'invalid'}`;
  }
}
