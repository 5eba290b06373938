import { RestError } from '@azure/core-rest-pipeline';

import { TimeLimitError } from '../../shared/clock';
import { createOnce } from '../../shared/createOnce';

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
});
