// Loading role rules from JSON and ES module files, and the errors that name the file and say
// what to do when one is missing, broken or invalid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoleRulesConfig } from './config-types.js';
import { loadRoleRules } from './load.js';
import { RoleRulesError } from './role-rules-error.js';

const CONFIG: RoleRulesConfig = {
  networks: [
    ['our_nets', 'OUR_NETS'],
    ['bert', '10.33.0.1/32'],
    ['external', ['0.0.0.0/0', '::/0']],
  ],
  rules: [
    { name: 'into-ours', src: null, dst: 'our_nets', action: { lowerPort: 'src' } },
    { src: 'external', dst: 'bert', action: { assign: { client: 'dst', port: 'src', ports: [53], drop: true } } },
  ],
};

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dllt-role-rules-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadError(path: string): Promise<RoleRulesError> {
  try {
    await loadRoleRules(path);
  } catch (err) {
    assert.ok(err instanceof RoleRulesError, String(err));
    assert.equal(err.source, path);
    assert.ok(err.message.startsWith(path), err.message);
    return err;
  }
  assert.fail(`${path} loaded`);
}

test('loads a JSON file', () =>
  withDir(async (dir) => {
    const path = join(dir, 'roles.json');
    await writeFile(path, JSON.stringify(CONFIG, null, 2));
    assert.deepEqual(await loadRoleRules(path), CONFIG);
  }));

test('loads the default export of .mjs and .js modules', () =>
  withDir(async (dir) => {
    const module = `// Comments are why one would use a module.\nexport default ${JSON.stringify(CONFIG)};\n`;
    for (const name of ['roles.mjs', 'roles.js']) {
      await writeFile(join(dir, name), module);
      assert.deepEqual(await loadRoleRules(join(dir, name)), CONFIG, name);
    }
  }));

test('reloading an edited module reads the new rules', () =>
  withDir(async (dir) => {
    const path = join(dir, 'roles.mjs');
    await writeFile(path, `export default ${JSON.stringify(CONFIG)};`);
    assert.equal((await loadRoleRules(path)).rules.length, 2);
    await writeFile(path, `export default ${JSON.stringify({ ...CONFIG, rules: [] })};`);
    const later = new Date(Date.now() + 5000);
    await utimes(path, later, later);
    assert.equal((await loadRoleRules(path)).rules.length, 0);
  }));

test('a missing file is named, with what to do', () =>
  withDir(async (dir) => {
    for (const name of ['absent.json', 'absent.mjs']) {
      const err = await loadError(join(dir, name));
      assert.deepEqual(err.problems, ['does not exist; create it or correct the path']);
    }
  }));

test('a directory is not readable as rules', () =>
  withDir(async (dir) => {
    const path = join(dir, 'rules.json');
    await mkdir(path);
    assert.deepEqual((await loadError(path)).problems, ['cannot be read (EISDIR); check that it is a readable file']);
  }));

test('unparseable files say what is wrong', () =>
  withDir(async (dir) => {
    const json = join(dir, 'broken.json');
    await writeFile(json, '{ "networks": [], // no comments in JSON\n "rules": [] }');
    assert.match((await loadError(json)).problems[0]!, /^is not valid JSON \(.+\); fix the syntax, or use an \.mjs module to have comments$/);

    const mjs = join(dir, 'broken.mjs');
    await writeFile(mjs, 'export default { networks: [ };');
    assert.match((await loadError(mjs)).problems[0]!, /^could not be loaded as an ES module \(.+\); fix the module so `node .+broken\.mjs` runs$/);

    const noDefault = join(dir, 'named.mjs');
    await writeFile(noDefault, `export const rules = ${JSON.stringify(CONFIG)};`);
    assert.deepEqual((await loadError(noDefault)).problems, ['has no default export; write `export default { networks: [...], rules: [...] }`']);
  }));

test('an invalid config reports its problems under the file name', () =>
  withDir(async (dir) => {
    const path = join(dir, 'invalid.json');
    await writeFile(path, JSON.stringify({ networks: [['bert', '10.33.0.1/24']], rules: [{ src: 'ernie', dst: null, action: { lowerPort: null } }] }));
    const err = await loadError(path);
    assert.deepEqual(err.problems, [
      'network 1 ("bert"): "10.33.0.1/24" has host bits set; did you mean "10.33.0.0/24"?',
      'rule 1 ("rule1"): src "ernie" is not a network name (they are "bert")',
    ]);
    assert.match(err.message, /invalid\.json has 2 problems:/);
  }));

test('other file types are refused with the ones that work', () =>
  withDir(async (dir) => {
    assert.deepEqual((await loadError(join(dir, 'roles.yaml'))).problems, ['has extension ".yaml"; role rules are .json, .js or .mjs files']);
    assert.match((await loadError(join(dir, 'roles.ts'))).problems[0]!, /^is TypeScript, which dllt does not load; compile it to \.mjs/);
  }));
