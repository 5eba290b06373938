import { FaultInjector } from '../../local/emulators/faults';

describe('Class: FaultInjector', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('holds a request for the latency, then answers with the fault', async () => {
    // Prepare
    jest.useFakeTimers();
    const faults = new FaultInjector();
    faults.set('arm', { latencyMs: 20_000, status: 503 });

    // Act
    let decided: unknown;
    const decision = faults.apply('arm').then((d) => (decided = d));
    await jest.advanceTimersByTimeAsync(19_999);
    const early = decided;
    await jest.advanceTimersByTimeAsync(1);
    await decision;

    // Assess
    expect(early).toBeUndefined();
    expect(decided).toEqual({ kind: 'status', status: 503, retryAfterSeconds: 1 });
  });

  it('ends the latency waits in progress as outages when the stand-in stops, leaving no timer', async () => {
    // Prepare: a wait left running kept the test process alive 20 s after its run
    jest.useFakeTimers();
    const faults = new FaultInjector();
    faults.set('arm', { latencyMs: 20_000 });
    const held = [faults.apply('arm'), faults.apply('arm')];

    // Act
    faults.stop();
    const decisions = await Promise.all(held);

    // Assess
    expect(decisions).toEqual([{ kind: 'outage' }, { kind: 'outage' }]);
    expect(jest.getTimerCount()).toBe(0);
  });
});
