import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { childStopper } from '../childStopper';
import { OutputTail } from './OutputTail';

/** Options of {@link spawnFunctionsHost}. */
export interface SpawnFunctionsHostOptions {
  /** App settings for the child (AzureWebJobsStorage and the app's own settings). */
  readonly env: NodeJS.ProcessEnv;
  /** 0 picks a free port. */
  readonly port: number;
  readonly masterKey: string;
  readonly defaultKey: string;
  /** App root: holds package.json, host.json and dist/ (built with `tsc` first). */
  readonly cwd: string;
  /** How long to wait for `Functions host listening on`. @default 30000 */
  readonly startTimeoutMs?: number;
  /** Receives the child's output as it arrives (npm start shows it after the banner). */
  readonly onOutput?: (chunk: string) => void;
  /** Characters of output `output()` keeps (the latest). @default DEFAULT_OUTPUT_TAIL_CHARS */
  readonly keptOutputChars?: number;
  /** Node options for the child, e.g. `--cpu-prof` (not allowed in NODE_OPTIONS). @default [] */
  readonly nodeArgs?: readonly string[];
}

/** A Functions host running in a child process. */
export interface SpawnedFunctionsHost {
  readonly url: string;
  /** Process id of the host (e.g. for a benchmark that reads its CPU time). */
  readonly pid: number | undefined;
  /** What the child printed so far, stdout and stderr interleaved (the latest `keptOutputChars`). */
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the child has exited. */
  stop(): Promise<void>;
  /** SIGKILL at once (a crash: no shutdown code runs); resolves when the child has exited. */
  kill(): Promise<void>;
}

/**
 * Starts `node dist/local/host/main.js` in `cwd` and resolves once it prints its listening line
 * (rejects with the captured output if it exits or times out first).
 */
export async function spawnFunctionsHost(opts: SpawnFunctionsHostOptions): Promise<SpawnedFunctionsHost> {
  const child = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), join(opts.cwd, 'dist', 'local', 'host', 'main.js')],
    {
      cwd: opts.cwd,
      env: {
        ...opts.env,
        LOCAL_FUNCTIONS_PORT: String(opts.port),
        LOCAL_FUNCTIONS_MASTER_KEY: opts.masterKey,
        LOCAL_FUNCTIONS_DEFAULT_KEY: opts.defaultKey,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const captured = new OutputTail(opts.keptOutputChars);
  const stop = childStopper(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error('Functions host did not start in time')),
      opts.startTimeoutMs ?? 30000,
    );
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      const failure = new Error(`${error.message}\n${captured.toString()}`);
      // Its port was taken: say so as a server in this process would, so `npm start` names the setting.
      if (/listen EADDRINUSE/.test(captured.toString())) Object.assign(failure, { code: 'EADDRINUSE' });
      reject(failure);
    };
    let listening = false;
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      captured.append(text);
      opts.onOutput?.(text);
      // Look for the banner only until it is seen: rescanning everything captured on every chunk
      // costs O(output²), which a busy host (a log line per invocation) turns into seconds of CPU.
      if (listening) return;
      const m = /Functions host listening on (http:\/\/\S+)/.exec(captured.toString());
      if (m?.[1]) {
        listening = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) =>
      fail(new Error(`Functions host exited with code ${String(code)} before listening`)),
    );
  });
  return {
    url,
    pid: child.pid,
    output: () => captured.toString(),
    stop,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
