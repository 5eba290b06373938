import { realSleep } from '../../shared/clock';
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
