import type { ChildProcess } from 'node:child_process';

/** Children still running; killed if this process exits first. */
const running = new Set<ChildProcess>();
let exitHooked = false;

/**
 * Returns an idempotent `stop()` for a child process: SIGTERM, then SIGKILL after `graceMs`, resolving
 * once the child has exited. Must be called right after spawning so the exit is never missed.
 *
 * If this process exits first (an uncaught error included), the child is killed with it: a child that
 * prints nothing never sees its stdout pipe break, so Azurite or an idle host would otherwise live on,
 * holding ports and CPU.
 */
export function childStopper(child: ChildProcess, graceMs = 5000): () => Promise<void> {
  killWithThisProcess(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(kill);
    })());
}

function killWithThisProcess(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}
