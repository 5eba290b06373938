import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { sleep } from '../support/waitFor';

/** Built by `pretest`; the parent below runs it as plain JavaScript. */
const childStopperJs = join(__dirname, '..', '..', 'dist', 'local', 'childStopper.js');

/** Alive: the process exists and is not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('Function: childStopper', () => {
  it('kills its child when this process dies of an uncaught error', async () => {
    // Prepare: a parent that starts a silent child (like Azurite --silent), then crashes
    const parentCode = `
      const { spawn } = require('node:child_process');
      const { childStopper } = require(${JSON.stringify(childStopperJs)});
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'pipe'] });
      childStopper(child);
      console.log(child.pid);
      setTimeout(() => { throw new RangeError('Invalid string length'); }, 200);
    `;
    const parent = spawn(process.execPath, ['-e', parentCode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    parent.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));

    // Act
    const code = await new Promise<number | null>((resolve) => parent.once('exit', resolve));
    const childPid = Number(stdout.trim());

    // Assess
    expect(code).not.toBe(0);
    expect(childPid).toBeGreaterThan(0);
    for (let i = 0; i < 50 && isAlive(childPid); i++) await sleep(20);
    expect(isAlive(childPid)).toBe(false);
  });
});
