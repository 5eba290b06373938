import { ArmWriteGate } from '../../../shared/rotation/ArmWriteGate';
import { FakeClock } from '../../fakes/FakeClock';
import { signalRecordingSleep } from '../../fakes/sleeps';

/** Lets queued promise callbacks run (the gate wakes waiters through resolved promises). */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('Class: ArmWriteGate', () => {
  const build = () => {
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: clock.sleep, pacedConcurrency: 2, lowWatermark: 5 });
    return { clock, gate, far: clock.now() + 60_000 };
  };

  it('lets every write through at once while ARM has not pushed back', async () => {
    // Prepare
    const { gate, far } = build();

    // Act
    const admitted = await Promise.all(Array.from({ length: 20 }, () => gate.acquire('sub', far)));

    // Assess
    expect(admitted.every(Boolean)).toBe(true);
    expect(gate.isPaced('sub')).toBe(false);
  });

  it('closes the bucket for every writer until the Retry-After of a 429 has passed', async () => {
    // Prepare
    const { clock, gate, far } = build();
    const start = clock.now();
    await gate.acquire('sub', far);

    // Act
    gate.release('sub', { retryAfterMs: 3000 });
    const closedFor = gate.closedForMs('sub');
    const admitted = await gate.acquire('sub', far);

    // Assess
    expect(closedFor).toBe(3000);
    expect(admitted).toBe(true);
    expect(clock.now() - start).toBeGreaterThanOrEqual(3000);
  });

  it('gives up at once, without waiting, when the bucket stays closed past the deadline', async () => {
    // Prepare
    const { clock, gate } = build();
    await gate.acquire('sub', clock.now() + 60_000);
    gate.release('sub', { retryAfterMs: 30_000 });
    const before = clock.now();

    // Act
    const admitted = await gate.acquire('sub', clock.now() + 10_000);

    // Assess
    expect(admitted).toBe(false);
    expect(clock.now()).toBe(before);
  });

  it('after a 429, keeps at most pacedConcurrency writes in flight and admits the next as one completes', async () => {
    // Prepare
    const { gate, far } = build();
    await gate.acquire('sub', far);
    gate.release('sub', { retryAfterMs: 0 });
    const order: number[] = [];
    const writers = [1, 2, 3, 4].map((n) => gate.acquire('sub', far).then(() => order.push(n)));

    // Act
    await flush();
    const firstWave = [...order];
    gate.release('sub', { remaining: 0 });
    await flush();
    const secondWave = [...order];
    gate.release('sub', { remaining: 0 });
    await Promise.all(writers);

    // Assess
    expect(gate.isPaced('sub')).toBe(true);
    expect(firstWave).toEqual([1, 2]);
    expect(secondWave).toEqual([1, 2, 3]);
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('starts pacing when the remaining-writes header runs low, and stops above twice the watermark', async () => {
    // Prepare
    const { gate, far } = build();

    // Act
    await gate.acquire('sub', far);
    gate.release('sub', { remaining: 5 });
    const pacedLow = gate.isPaced('sub');
    await gate.acquire('sub', far);
    gate.release('sub', { remaining: 8 });
    const pacedBetween = gate.isPaced('sub');
    await gate.acquire('sub', far);
    gate.release('sub', { remaining: 11 });

    // Assess
    expect(pacedLow).toBe(true);
    expect(pacedBetween).toBe(true);
    expect(gate.isPaced('sub')).toBe(false);
  });

  it('keeps the buckets of different subscriptions apart', async () => {
    // Prepare
    const { clock, gate, far } = build();
    await gate.acquire('sub-a', far);
    gate.release('sub-a', { retryAfterMs: 5000 });
    const before = clock.now();

    // Act
    const admitted = await gate.acquire('sub-b', far);

    // Assess
    expect(admitted).toBe(true);
    expect(clock.now()).toBe(before);
    expect(gate.closedForMs('sub-a')).toBe(5000);
  });

  it('hands the turn a release gave a queued write on when that write gives up instead of taking it', async () => {
    // Prepare: paced to one write in flight; A (10 s left) and B (60 s left) wait in line behind it.
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: clock.sleep, pacedConcurrency: 1 });
    await gate.acquire('sub', clock.now() + 60_000);
    gate.release('sub', { remaining: 0 });
    await gate.acquire('sub', clock.now() + 60_000);
    const a = gate.acquire('sub', clock.now() + 10_000);
    const b = gate.acquire('sub', clock.now() + 60_000);
    await flush();

    // Act: the write in flight gets a 429 asking for 30 s, and its caller gives it up (nothing re-sent)
    gate.release('sub', { retryAfterMs: 30_000 });
    const admittedA = await a;
    const admittedB = await Promise.race([b, flush().then(() => 'still in line')]);

    // Assess: A cannot wait 30 s; B can, and must not stay in line with nothing in flight to wake it.
    expect(admittedA).toBe(false);
    expect(admittedB).toBe(true);
  });

  it('hands the turn on when a write is given up just after a release woke it', async () => {
    // Prepare: paced to one write in flight; T (whose caller may give up) and R wait in line behind it.
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: clock.sleep, pacedConcurrency: 1 });
    await gate.acquire('sub', clock.now() + 60_000);
    gate.release('sub', { remaining: 0 });
    await gate.acquire('sub', clock.now() + 60_000);
    const givenUp = new AbortController();
    const t = gate
      .acquire('sub', clock.now() + 60_000, givenUp.signal)
      .catch((e: unknown) => (e as Error).name);
    const r = gate.acquire('sub', clock.now() + 60_000);
    await flush();

    // Act: the release wakes T, whose caller gives it up before T runs again
    gate.release('sub', { remaining: 0 });
    givenUp.abort();
    const admittedR = await Promise.race([r, flush().then(() => 'still in line')]);

    // Assess
    expect(await t).toBe('AbortError');
    expect(admittedR).toBe(true);
  });

  it('ends the wait for a closed bucket when the write is given up, handing the sleep a signal that fires', async () => {
    // Prepare: ARM closed the bucket for 30 s; a sleep that never ends on its own and records the signal it
    // is handed (realSleep clears its timer when that signal fires: a 30-s timer would outlive the write)
    const clock = new FakeClock();
    const { sleep, given } = signalRecordingSleep();
    const gate = new ArmWriteGate({ clock, sleep });
    gate.release('sub', { retryAfterMs: 30_000 });
    const givenUp = new AbortController();
    const waiting = gate
      .acquire('sub', clock.now() + 60_000, givenUp.signal)
      .catch((e: unknown) => (e as Error).name);
    await flush();

    // Act
    givenUp.abort();

    // Assess: the gate's own AbortError, and the sleep's signal fired with the caller's
    expect(await Promise.race([waiting, flush().then(() => 'still waiting')])).toBe('AbortError');
    expect(given.map((signal) => signal?.aborted)).toEqual([true]);
  });
});
