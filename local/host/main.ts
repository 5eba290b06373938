import { delimiter, join, resolve } from 'node:path';

import { resolveEntryPoints } from './entryPoints';
import { AppStartFailedError, startFunctionsHost } from './FunctionsHost';

/**
 * Child-process entry: `node dist/local/host/main.js` in the app root. Settings from the environment:
 * LOCAL_FUNCTIONS_PORT (default 7071), LOCAL_FUNCTIONS_MASTER_KEY, LOCAL_FUNCTIONS_DEFAULT_KEY (required),
 * AzureWebJobsStorage (required), LOCAL_FUNCTIONS_EXTRA_ENTRY_POINTS (optional: more `.js` entry point
 * files, separated by the platform's path delimiter and relative to the app root, loaded after
 * package.json `main`; local-host only, e.g. the benchmark's empty baseline function). Prints
 * `Functions host listening on <url>` when ready; exits cleanly on SIGINT/SIGTERM/SIGHUP (running
 * `appTerminate` hooks).
 */
async function main(): Promise<void> {
  const env = process.env;
  const masterKey = env['LOCAL_FUNCTIONS_MASTER_KEY'];
  const defaultKey = env['LOCAL_FUNCTIONS_DEFAULT_KEY'];
  const storage = env['AzureWebJobsStorage'];
  if (!masterKey || !defaultKey)
    throw new Error('LOCAL_FUNCTIONS_MASTER_KEY and LOCAL_FUNCTIONS_DEFAULT_KEY are required');
  if (!storage) throw new Error('AzureWebJobsStorage is required');
  const root = process.cwd();
  const host = await startFunctionsHost({
    port: Number(env['LOCAL_FUNCTIONS_PORT'] ?? 7071),
    masterKey,
    defaultKey,
    entryPoints: [
      ...resolveEntryPoints(root),
      ...extraEntryPoints(root, env['LOCAL_FUNCTIONS_EXTRA_ENTRY_POINTS']),
    ],
    storageConnectionString: storage,
    hostJsonPath: join(root, 'host.json'),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  let exiting = false;
  const shutdown = (signal: string): void => {
    if (exiting) return;
    exiting = true;
    process.stdout.write(`Received ${signal}, stopping the Functions host\n`);
    void host.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGHUP', () => shutdown('SIGHUP'));
}

/** Extra entry points a local-only caller (the benchmark) asks for; never part of the deployed app. */
function extraEntryPoints(root: string, setting: string | undefined): string[] {
  return (setting ?? '')
    .split(delimiter)
    .filter((file) => file !== '')
    .map((file) => resolve(root, file));
}

main().catch((error: unknown) => {
  // The app's own refusal is told as the app words it; a failure of the host itself keeps its stack.
  const told =
    error instanceof AppStartFailedError
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
  process.stderr.write(`Functions host failed to start: ${told}\n`);
  process.exit(1);
});
