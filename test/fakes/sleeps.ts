import type { Sleep } from '../../shared/clock';

/** A sleep that never ends on its own: a pause that only its caller's signal can end. */
export const neverEnds: Sleep = () => new Promise<void>(() => undefined);

/**
 * A sleep that never ends on its own and records the signal each pause is handed: the real sleep ends
 * with that signal and clears its timer (clock.test.ts), so a pause handed none would outlive its caller.
 */
export function signalRecordingSleep(): { sleep: Sleep; given: Array<AbortSignal | undefined> } {
  const given: Array<AbortSignal | undefined> = [];
  const sleep: Sleep = (ms, abortSignal) => {
    given.push(abortSignal);
    return neverEnds(ms);
  };
  return { sleep, given };
}
