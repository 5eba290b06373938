import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { childStopper } from '../../local/childStopper';

/** The bare Node `http` baseline, running in its own process. */
export interface BareServer {
  readonly url: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts `bareServer.js` answering the body in `bodyFile`; resolves once it listens (rejects if it
 * exits or takes longer than 10 s).
 */
export async function startBareServer(bodyFile: string): Promise<BareServer> {
  const child = spawn(process.execPath, [join(__dirname, 'bareServer.js'), bodyFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = childStopper(child);
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the bare server did not start within 10 s'));
    }, 10_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the bare server exited with code ${String(code)}`));
    });
  });
  return { url, pid: child.pid, stop };
}
