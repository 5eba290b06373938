import { loadEntryPoints } from '../../local/host/coreApiShim';
import { resolveEntryPoints } from '../../local/host/entryPoints';
import { FunctionRegistry } from '../../local/host/registry';

/**
 * Child-process entry of the cold-start benchmark, run in a fresh `node` in the app root: requires every
 * entry point of package.json `main` (`dist/functions/*.js`) the way the local host does, and prints
 * `{"ms":…,"files":…,"functions":…}` — the module import time of the function app.
 */
const files = resolveEntryPoints(process.cwd());
const registry = new FunctionRegistry();
const started = process.hrtime.bigint();
loadEntryPoints(files, registry);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(`${JSON.stringify({ ms, files: files.length, functions: registry.functions.size })}\n`);
