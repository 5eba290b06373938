import { realSleep, type Sleep } from '../../shared/clock';

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long. @default 60000 */
  readonly timeoutMs?: number;
  /** Pause between checks. @default 250 */
  readonly intervalMs?: number;
  /** Extra context for the timeout message (called only on timeout). */
  readonly describe?: () => string;
}

/**
 * Polls `condition` until it returns a value other than `undefined`/`false` and returns that value.
 * Integration tests wait on conditions rather than fixed sleeps: CI shares two cores with other work,
 * so deadlines are generous and the common case returns as soon as the condition holds.
 * @param what - what is awaited, for the timeout message
 */
export async function waitFor<T>(
  what: string,
  condition: () => T | false | undefined | Promise<T | false | undefined>,
  options: WaitForOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what}${options.describe ? `\n${options.describe()}` : ''}`);
    await sleep(options.intervalMs ?? 250);
  }
}

/** A plain delay (pacing loops; never a substitute for waiting on a condition): the app's own. */
export const sleep: Sleep = realSleep;

/** Lets every promise callback that is ready run (work a fake clock's tick or a resolved call started). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
