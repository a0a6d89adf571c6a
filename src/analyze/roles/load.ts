/**
 * Reads a role rules file: JSON, or an ES module whose default export has the same shape (so
 * operators can keep comments, build rules in code, or type-check them against
 * RoleRulesConfig from TypeScript). Any failure, including an invalid config, is one
 * RoleRulesError naming the file and what to do about it.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RoleRulesConfig } from './config-types.js';
import { RoleRulesError } from './role-rules-error.js';
import { validateRoleRules } from './validate.js';

export async function loadRoleRules(path: string): Promise<RoleRulesConfig> {
  const extension = extname(path).toLowerCase();
  let value: unknown;
  if (extension === '.json') value = await readJson(path);
  else if (extension === '.js' || extension === '.mjs') value = await importDefault(path);
  else if (extension === '.ts' || extension === '.mts') {
    throw new RoleRulesError(path, [
      'is TypeScript, which dllt does not load; compile it to .mjs (type it with `satisfies RoleRulesConfig` to have tsc check it)',
    ]);
  } else {
    throw new RoleRulesError(path, [`has extension ${JSON.stringify(extension)}; role rules are .json, .js or .mjs files`]);
  }
  return validateRoleRules(value, path);
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RoleRulesError(path, [unreadable(err)]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RoleRulesError(path, [`is not valid JSON (${(err as Error).message}); fix the syntax, or use an .mjs module to have comments`]);
  }
}

async function importDefault(path: string): Promise<unknown> {
  const absolute = resolve(path);
  let modifiedMs: number;
  try {
    modifiedMs = (await stat(absolute)).mtimeMs;
  } catch (err) {
    throw new RoleRulesError(path, [unreadable(err)]);
  }
  let module: Record<string, unknown>;
  try {
    // Node caches modules by URL; the query makes an edited file load afresh on reload.
    module = (await import(`${pathToFileURL(absolute).href}?mtime=${modifiedMs}`)) as Record<string, unknown>;
  } catch (err) {
    throw new RoleRulesError(path, [`could not be loaded as an ES module (${(err as Error).message}); fix the module so \`node ${path}\` runs`]);
  }
  if (!('default' in module)) {
    throw new RoleRulesError(path, ['has no default export; write `export default { networks: [...], rules: [...] }`']);
  }
  return module['default'];
}

function unreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist; create it or correct the path';
  return `cannot be read (${code ?? (err as Error).message}); check that it is a readable file`;
}
