import { AsyncLocalStorage, createHook } from 'node:async_hooks';

import { settle } from './waitFor';

/**
 * Runs `work` and returns the delays (ms) of the timers it started that are still pending once it has
 * returned and would keep the process alive (unref'd ones are left out). A call that leaves one makes
 * Jest's run outlive its tests: "Jest did not exit one second after the test run has completed", which
 * `--detectOpenHandles` does not explain, since it reports a timer only while its test still runs.
 */
export async function timersLeftBy(work: () => Promise<unknown>): Promise<number[]> {
  // Only timers started in the work's own async context: Jest's reporter and the in-process stand-ins
  // start theirs in the same process meanwhile.
  const context = new AsyncLocalStorage<true>();
  const started = new Set<NodeJS.Timeout>();
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'Timeout' && context.getStore()) started.add(resource as NodeJS.Timeout);
    },
  });
  hook.enable();
  try {
    await context.run(true, work);
  } finally {
    hook.disable();
  }
  // Timers due at the same moment as the last step of the work fire first.
  await settle();
  // A fired or cleared timer is marked destroyed (Node's own flag: timers have no public "pending").
  return [...started]
    .filter((timer) => !(timer as unknown as { _destroyed: boolean })._destroyed && timer.hasRef())
    .map((timer) => (timer as unknown as { _idleTimeout: number })._idleTimeout);
}
