import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, readConfigFile } from '../../../sdk/model/config.ts';
import { Fleet } from '../../../sdk/model/fleet.ts';
import { ConfigError, InvalidNameError, UnknownHostError } from '../../../sdk/model/model-errors.ts';
import { checkVmName, vmPaths } from '../../../sdk/model/vm-paths.ts';

test('a valid config passes; every mistake names the field and what was expected', () => {
  assert.deepEqual(parseConfig({ hosts: { a: { ssh: 'root@10.0.0.1', runDir: '/run/ferry', tags: ['rack:1'] } } }).hosts['a']?.ssh, 'root@10.0.0.1');
  const cases: [unknown, RegExp, string][] = [
    [{}, /missing field 'hosts'/, '/'],
    [{ hosts: { a: { ssh: 'x', sshPort: 22 } } }, /unknown field 'sshPort'/, '/hosts/a'],
    [{ hosts: { a: { runDir: 'relative/dir' } } }, /does not match/, '/hosts/a/runDir'],
    [{ hosts: { a: { hostKeyPolicy: 'yolo' } } }, /expected one of "strict", "accept-new"/, '/hosts/a/hostKeyPolicy'],
    [{ hosts: { 'bad name!': {} } }, /name 'bad name!'/, '/hosts'],
    [{ hosts: { a: { tags: 'rack' } } }, /must be array/, '/hosts/a/tags'],
  ];
  for (const [config, message, field] of cases) {
    assert.throws(() => parseConfig(config), (error: unknown) => error instanceof ConfigError && message.test(error.message) && error.field === field, JSON.stringify(config));
  }
});

test('a config file that is missing or not JSON is a ConfigError naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-config-'));
  assert.throws(() => readConfigFile(join(dir, 'nope.json')), (error: unknown) => error instanceof ConfigError && /nope\.json: cannot read/.test(error.message));
  writeFileSync(join(dir, 'bad.json'), '{ hosts: ');
  assert.throws(() => readConfigFile(join(dir, 'bad.json')), (error: unknown) => error instanceof ConfigError && /not valid JSON/.test(error.message));
});

test('the fleet fills defaults, knows `local`, and refuses unknown hosts with the known ones', () => {
  const fleet = new Fleet();
  fleet.configure({ hosts: { a: { ssh: 'root@10.0.0.1' } } });
  assert.deepEqual(fleet.hostConfig('a').runDir, '/run/ferry');
  assert.equal(fleet.hostConfig('local').local, true);
  assert.throws(() => fleet.hostConfig('z'), (error: unknown) => error instanceof UnknownHostError && /configured hosts: a/.test(error.message));
});

test('VM names are file names: anything but /, NUL, newline or a leading dot; shell characters are fine', () => {
  for (const name of ['web', 'web-1.prod', 'web; rm -rf ~', '$(reboot)', "it's"]) assert.equal(checkVmName(name), name);
  for (const name of ['', '../x', 'a/b', '.hidden', 'a\nb', 'a\0b', 'x'.repeat(65)]) assert.throws(() => checkVmName(name), InvalidNameError);
  assert.deepEqual(vmPaths('/run/ferry/', 'web'), {
    qmp: '/run/ferry/web.qmp', pid: '/run/ferry/web.pid', migrationLock: '/run/ferry/web.migration', migrationStatus: '/run/ferry/web.migration/status.json',
  });
});
