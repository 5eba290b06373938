import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';

import { childStopper } from './childStopper';

/** Options of {@link startAzurite}. */
export interface AzuriteOptions {
  /** Receives Azurite's output lines. */
  readonly log?: (line: string) => void;
  /** @default 30000 */
  readonly startTimeoutMs?: number;
  /**
   * Run Azurite in its own process group, so Ctrl-C in a terminal does not reach it and whoever
   * started it stops it last (`npm start`). Then only this process's exit (or its stop) ends it.
   * @default false
   */
  readonly ownProcessGroup?: boolean;
}

/** A running in-memory Azurite. */
export interface RunningAzurite {
  /** devstoreaccount1 connection string with explicit http Blob/Queue/Table endpoints. */
  readonly connectionString: string;
  readonly blobPort: number;
  readonly queuePort: number;
  readonly tablePort: number;
  /** The Azurite process (tests pause it with SIGSTOP: storage that stops answering). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** Azurite's well-known development account (public, documented in the Azurite README). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Builds the devstoreaccount1 connection string for the given ports on 127.0.0.1. */
export function azuriteConnectionString(ports: { blob: number; queue: number; table: number }): string {
  const at = (port: number): string => `http://127.0.0.1:${port}/${ACCOUNT}`;
  return (
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};` +
    `BlobEndpoint=${at(ports.blob)};QueueEndpoint=${at(ports.queue)};TableEndpoint=${at(ports.table)};`
  );
}

/**
 * Starts the Azurite CLI (blob, queue, table) in memory on free ports of 127.0.0.1, without telemetry
 * (no network here) and with loose header checks and no API version check, so newer SDKs work.
 */
export async function startAzurite(opts: AzuriteOptions = {}): Promise<RunningAzurite> {
  // azurite's package `main` is a VS Code extension, so run its CLI script directly.
  const entry = join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'azurite.js');
  const args = [
    '--inMemoryPersistence',
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--loose',
    '--silent',
  ];
  for (const service of ['blob', 'queue', 'table'])
    args.push(`--${service}Host`, '127.0.0.1', `--${service}Port`, '0');
  const child = spawn(process.execPath, [entry, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.ownProcessGroup ?? false,
  });
  const stop = childStopper(child);
  let output = '';
  const ports = await new Promise<{ blob: number; queue: number; table: number }>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`Azurite failed to start: ${why}\n${output}`));
    };
    const timer = setTimeout(() => fail('timed out'), opts.startTimeoutMs ?? 30000);
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      output += text;
      for (const line of text.split(/\r?\n/)) if (line.trim() !== '') opts.log?.(line);
      const found: Record<string, number> = {};
      for (const m of output.matchAll(
        /Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/g,
      )) {
        found[(m[1] ?? '').toLowerCase()] = Number(m[2]);
      }
      if (found['blob'] && found['queue'] && found['table']) {
        clearTimeout(timer);
        resolve({ blob: found['blob'], queue: found['queue'], table: found['table'] });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => fail(`exited with code ${String(code)}`));
  });
  return {
    connectionString: azuriteConnectionString(ports),
    blobPort: ports.blob,
    queuePort: ports.queue,
    tablePort: ports.table,
    pid: child.pid,
    stop,
  };
}
