import { RestError } from '@azure/core-rest-pipeline';

import { TimeLimitError } from '../../shared/clock';
import { createOnce, createTableOnce } from '../../shared/createOnce';

describe('Function: createOnce', () => {
  it('creates once, and counts "already exists" (409) as created', async () => {
    // Prepare
    let calls = 0;
    const ensure = createOnce(async () => {
      calls++;
      throw new RestError('TableAlreadyExists', { statusCode: 409 });
    });

    // Act
    await ensure();
    await ensure();

    // Assess
    expect(calls).toBe(1);
  });

  it('forgets a failure, and a creation that does not answer within the time limit, so the next call tries again', async () => {
    // Prepare: the first creation never answers, the second fails, the third succeeds
    let calls = 0;
    const outcomes = [
      () => new Promise<never>(() => undefined),
      () => Promise.reject(new RestError('Service Unavailable', { statusCode: 503 })),
      () => Promise.resolve(),
    ];
    const ensure = createOnce(() => outcomes[calls++]?.() ?? Promise.resolve(), 20);

    // Act
    const first = await ensure().catch((error: unknown) => error);
    const second = await ensure().catch((error: unknown) => error);
    await ensure();
    await ensure();

    // Assess
    expect(first).toBeInstanceOf(TimeLimitError);
    expect(second).toMatchObject({ statusCode: 503 });
    expect(calls).toBe(3);
  });

  it('aborts a creation that passes its time limit before the next call creates again, and not one that answers', async () => {
    // Prepare: the first creation never answers, the second does; each records the signal it was handed
    const signals: Array<AbortSignal | undefined> = [];
    const overlapped: boolean[] = [];
    const outcomes = [() => new Promise<never>(() => undefined), () => Promise.resolve()];
    const ensure = createOnce((abortSignal?: AbortSignal) => {
      overlapped.push(signals.some((signal) => signal?.aborted === false));
      signals.push(abortSignal);
      return outcomes[signals.length - 1]?.() ?? Promise.resolve();
    }, 20);

    // Act
    await ensure().catch(() => undefined);
    await ensure();
    await new Promise((resolve) => setTimeout(resolve, 40));

    // Assess: the second creation did not overlap a first still running; the answered one kept its signal
    expect(signals.map((signal) => signal?.aborted)).toEqual([true, false]);
    expect(signals[0]?.reason).toMatchObject({ name: 'TimeLimitError', limitMs: 20 });
    expect(overlapped).toEqual([false, false]);
  });

  it('hands a table creation the signal of its time limit (createTableOnce)', async () => {
    // Prepare
    const seen: Array<AbortSignal | undefined> = [];
    const ensure = createTableOnce(
      {
        createTable: (options?: { abortSignal?: AbortSignal }) => {
          seen.push(options?.abortSignal);
          return new Promise<never>(() => undefined);
        },
      },
      20,
    );

    // Act
    const outcome = await ensure().catch((error: unknown) => error);

    // Assess
    expect(outcome).toBeInstanceOf(TimeLimitError);
    expect(seen.map((signal) => signal?.aborted)).toEqual([true]);
  });
});
