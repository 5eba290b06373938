import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const patterns = readFileSync(join(__dirname, '..', '..', '.funcignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

/**
 * Whether `path` (a file, relative to the app root) is left out under standard gitignore rules, which
 * `azd deploy` documents for `.funcignore`: a pattern without a slash other than a trailing one matches
 * a name at any depth, one with a slash is anchored to the root, a trailing slash matches directories
 * only. Core Tools' own parser anchors every pattern, so a package that is right here is right there.
 * Only the syntax the file uses is understood; anything else fails the test rather than guessing.
 */
function ignored(path: string): boolean {
  const parts = path.split('/');
  return patterns.some((raw) => {
    if (/^!|\*\*|[?[\\]/.test(raw))
      throw new Error(`.funcignore pattern this test does not understand: ${raw}`);
    const directoryOnly = raw.endsWith('/');
    const pattern = raw.replace(/\/$/, '');
    const anchored = pattern.includes('/');
    const source = pattern
      .replace(/^\//, '')
      .replace(/[.+^${}()|]/g, '\\$&')
      .replace(/\*/g, '[^/]*');
    const regex = new RegExp(`^${source}$`);
    // Every directory on the path, and the file itself unless the pattern names directories only.
    const depths = directoryOnly ? parts.length - 1 : parts.length;
    for (let depth = 1; depth <= depths; depth++) {
      const candidate = anchored ? parts.slice(0, depth).join('/') : (parts[depth - 1] ?? '');
      if (regex.test(candidate)) return true;
    }
    return false;
  });
}

describe('File: .funcignore', () => {
  it.each([
    'host.json',
    'package.json',
    'dist/functions/health.js',
    'dist/shared/config.js',
    'node_modules/@azure/functions/package.json',
    'node_modules/semver/functions/satisfies.js',
    'node_modules/applicationinsights/out/src/shared/index.js',
    'node_modules/@azure/monitor-opentelemetry/dist/commonjs/shared/index.js',
  ])('keeps %s, which the deployed app loads', (path) => {
    expect(ignored(path)).toBe(false);
  });

  it.each([
    '.local/stack.json',
    '.local/certs/local-ca-key.pem',
    'local.settings.json',
    'shared/config.ts',
    'functions/health.ts',
    'local/start.ts',
    'test/unit/config.test.ts',
    'infra/main.bicep',
    'docs/deployment.md',
    'dist/test/runTests.js',
    'dist/test/bench/hostFunctions/emptyToken.js',
    'dist/local/emulators/main.js',
  ])('leaves out %s', (path) => {
    expect(ignored(path)).toBe(true);
  });
});
