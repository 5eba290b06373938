/** Time source, injected so that tests can move time (STYLE C9). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** Resolves after `ms` milliseconds; a port so tests and benchmarks can skip real waiting. */
export type Sleep = (ms: number) => Promise<void>;

/** The real sleep. */
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `tick` every `everyMs` until the returned function is called. A port, like {@link Sleep}, so that
 * tests drive it from a fake clock instead of waiting.
 */
export type Repeat = (everyMs: number, tick: () => void) => () => void;

/** The real repeat; it never keeps the process alive on its own. */
export const realRepeat: Repeat = (everyMs, tick) => {
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return () => clearInterval(timer);
};

/**
 * Waits for `work`, but no longer than `ms`: the work goes on past it, and the timer never keeps the
 * process alive. Rejects when the work does, in time.
 * @returns whether the work finished in time
 */
export async function finishesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
