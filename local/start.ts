import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { DEMO_ARM, printBanner, seedDemo } from './demo';
import { type LocalStack, startLocalStack } from './stack';

/** Ports of `npm start`, overridable because 7071 is often taken by a real Core Tools host. */
const PORT_SETTINGS = {
  functions: { name: 'LOCAL_FUNCTIONS_PORT', default: 7071 },
  emulators: { name: 'LOCAL_EMULATOR_PORT', default: 7443 },
} as const;

function port(setting: { name: string; default: number }): number {
  const raw = process.env[setting.name];
  if (raw === undefined || raw === '') return setting.default;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`${setting.name} must be a port number between 0 and 65535 (got "${raw}").`);
  }
  return value;
}

function explain(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'EADDRINUSE') {
    return (
      `A port is already in use. Stop the other process or choose free ports, for example ` +
      `${PORT_SETTINGS.functions.name}=7072 ${PORT_SETTINGS.emulators.name}=7444 npm start`
    );
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * `npm start`: the whole product on this machine with no Azure account. Starts the stack, seeds the
 * demo workspace, endpoints and broker client, prints what to try, and stops everything on Ctrl-C.
 */
async function main(): Promise<void> {
  const root = join(__dirname, '..', '..');
  console.log('aml-credential-broker: starting the local stack (Azurite, Azure stand-ins, Functions host)…');
  // eslint-disable-next-line prefer-const -- the signal handlers below must see the stack once it exists
  let stack: LocalStack | undefined;
  const verbose = process.env.LOCAL_VERBOSE === 'true';
  let showHost = false;
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      // A second Ctrl-C while the host finishes its invocations: stop at once. Exiting kills every child
      // still running (childStopper); dying of the signal instead would leave Azurite, in its own process
      // group, running with its ports.
      console.log(`\n${signal} received again: stopping at once`);
      process.exit(130);
    }
    stopping = true;
    console.log(`\n${signal} received: stopping the local stack…`);
    await stack?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // A closed terminal: Azurite, in its own process group, would not hear of it.
  process.on('SIGHUP', () => void shutdown('SIGHUP'));

  stack = await startLocalStack({
    root,
    interactive: true,
    functionsPort: port(PORT_SETTINGS.functions),
    emulatorPort: port(PORT_SETTINGS.emulators),
    log: verbose ? (line) => console.log(line) : undefined,
    onHostOutput: (chunk) => {
      if (!showHost) return;
      // Per-request "Executing/Executed" lines drown the rotation story; LOCAL_VERBOSE shows them.
      const lines = chunk
        .split('\n')
        .filter((line) => line && (verbose || !/\] Execut(ing|ed) '/.test(line)));
      if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
    },
  });
  const demo = await seedDemo(stack, join(root, '.local'));
  const stackFile = {
    functionsUrl: stack.functionsUrl,
    caCertificatePath: stack.caCertificatePath,
    identityEndpoint: stack.emulators.identityEndpoint,
    identityHeader: stack.emulators.identityHeader,
    keyVaultUrl: stack.emulatorUrl,
    armEndpoint: stack.emulatorUrl,
    emulatorUrl: stack.emulatorUrl,
    eventGridTopicUrl: stack.topic.url,
    demo: { ...DEMO_ARM, endpointIds: demo.endpointIds, scoringUris: demo.scoringUris },
    ...demo.files,
  };
  writeFileSync(join(root, '.local', 'stack.json'), JSON.stringify(stackFile, null, 2), { mode: 0o600 });
  printBanner(stack, demo, root);
  showHost = true;
}

main().catch((error: unknown) => {
  console.error(`aml-credential-broker: the local stack did not start: ${explain(error)}`);
  process.exit(1);
});
