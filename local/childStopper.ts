import type { ChildProcess } from 'node:child_process';

/**
 * Returns an idempotent `stop()` for a child process: SIGTERM, then SIGKILL after `graceMs`, resolving
 * once the child has exited. Must be called right after spawning so the exit is never missed.
 */
export function childStopper(child: ChildProcess, graceMs = 5000): () => Promise<void> {
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
