import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * The app's entry point files from package.json `main`, resolved like the worker's globby call for the
 * patterns this project uses: a file, or `dir/*.js`-style wildcards in the last path segment.
 * @param appRoot - the folder holding package.json
 */
export function resolveEntryPoints(appRoot: string): string[] {
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { main?: unknown };
  if (typeof pkg.main !== 'string' || pkg.main === '')
    throw new Error('package.json has no "main" entry point pattern');
  const pattern = pkg.main.replace(/^\.\//, '');
  const dir = dirname(pattern);
  if (/[*?[\]{}]/.test(dir))
    throw new Error(`Unsupported entry point pattern "${pattern}" (wildcards only in the file name)`);
  const name = basename(pattern);
  if (!/[*?]/.test(name)) return [resolve(appRoot, pattern)];
  const re = new RegExp(
    `^${name
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
  const files = readdirSync(resolve(appRoot, dir))
    .filter((f) => re.test(f))
    .sort();
  if (files.length === 0) throw new Error(`Found zero files matching the supplied pattern "${pattern}"`);
  return files.map((f) => resolve(appRoot, dir, f));
}
