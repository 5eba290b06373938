import { realSleep, withinTimeLimitGivingUp } from '../../shared/clock';
import { timersLeftBy } from '../support/pendingTimers';

describe('Function: realSleep', () => {
  it('ends its pause, timer and all, with the reason of a signal that fires during it', async () => {
    // Prepare
    const controller = new AbortController();
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    let outcome: unknown;
    // Act
    const left = await timersLeftBy(async () => {
      const pause = realSleep(60_000, controller.signal).catch((error: unknown) => error);
      controller.abort(reason);
      outcome = await pause;
    });
    // Assess
    expect(outcome).toBe(reason);
    expect(left).toEqual([]);
  });

  it('refuses to start a pause for a signal that has fired, and otherwise waits its time', async () => {
    // Prepare
    const controller = new AbortController();
    controller.abort(new DOMException('given up', 'AbortError'));
    // Act
    const refused = realSleep(60_000, controller.signal).catch((error: unknown) => (error as Error).name);
    const started = Date.now();
    await realSleep(30, new AbortController().signal);
    // Assess
    expect(await refused).toBe('AbortError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });
});

describe('Function: withinTimeLimitGivingUp', () => {
  it("hands the work a signal that a caller's signal fires too, with its reason, fired already or during the work", async () => {
    // Prepare
    const caller = new AbortController();
    const reason = new DOMException('The delivery is out of time.', 'AbortError');
    const handed: AbortSignal[] = [];
    const work = (signal: AbortSignal): Promise<void> =>
      new Promise((_, reject) => {
        handed.push(signal);
        if (signal.aborted) reject(signal.reason as Error);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    // Act
    const cut = withinTimeLimitGivingUp(work, 60_000, caller.signal).catch((error: unknown) => error);
    caller.abort(reason);
    const outcome = await cut;
    const refused = await withinTimeLimitGivingUp(work, 60_000, caller.signal).catch(
      (error: unknown) => error,
    );
    // Assess
    expect(outcome).toBe(reason);
    expect(refused).toBe(reason);
    expect(handed.map((signal) => signal.reason as unknown)).toEqual([reason, reason]);
  });
});
