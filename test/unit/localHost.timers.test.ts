import type { InvocationInput } from '../../local/host/invocation';
import type { RegisteredFunction } from '../../local/host/registry';
import { startTimers } from '../../local/host/timers';

describe('Function: startTimers', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('passes isPastDue false and Next = this occurrence to a run that fires late, as the real timer listener does', async () => {
    // Arrange
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:30Z') });
    const inputs: InvocationInput[] = [];
    const fn = {
      metadata: { name: 'tick', bindings: {} },
      callback: () => undefined,
      triggerName: 'timer',
      trigger: { type: 'timerTrigger', schedule: '0 * * * * *' },
    } as unknown as RegisteredFunction;
    const timers = startTimers({
      functions: [fn],
      env: {},
      run: (_fn, input) => {
        inputs.push(input);
        return Promise.resolve();
      },
      log: () => undefined,
    });
    // Act: the 00:01:00 occurrence fires 5 s late (a busy event loop, a slept laptop)
    jest.setSystemTime(new Date('2026-01-01T00:00:35Z'));
    jest.advanceTimersByTime(30000);
    const fired = inputs.map(
      (i) => JSON.parse(i.data.json ?? '{}') as { IsPastDue: boolean; ScheduleStatus: { Next: string } },
    );
    await timers.stop();
    // Assess
    expect(fired.map((t) => [t.IsPastDue, t.ScheduleStatus.Next])).toEqual([
      [false, '2026-01-01T00:01:00.000Z'],
    ]);
  });
});
