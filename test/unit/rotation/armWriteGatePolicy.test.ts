import { AzureMachineLearningWorkspaces } from '@azure/arm-machinelearning';
import {
  createHttpHeaders,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';

import { realSleep } from '../../../shared/clock';
import { armWriteGatePolicy } from '../../../shared/rotation/adapters/armWriteGatePolicy';
import { ArmWriteGate } from '../../../shared/rotation/ArmWriteGate';
import { ArmThrottledError } from '../../../shared/rotation/errors';
import { FakeClock } from '../../fakes/FakeClock';
import { Gate } from '../../support/Gate';
import { timersLeftBy } from '../../support/pendingTimers';
import { settle } from '../../support/waitFor';

const SUB = '00000000-0000-0000-0000-000000000001';
const ARM = 'https://arm.test';

/** An HTTP client answering from a script; records every request it saw. */
function scriptedHttp(answers: Array<{ status: number; headers?: Record<string, string>; body?: unknown }>) {
  const seen: Array<{ method: string; url: string }> = [];
  const client: HttpClient = {
    sendRequest: async (request: PipelineRequest): Promise<PipelineResponse> => {
      seen.push({ method: request.method, url: request.url });
      const answer = answers.shift() ?? { status: 200, body: {} };
      return {
        request,
        status: answer.status,
        headers: createHttpHeaders({ 'content-type': 'application/json', ...answer.headers }),
        bodyAsText: JSON.stringify(answer.body ?? { error: { code: 'Throttled', message: 'slow down' } }),
      };
    },
  };
  return { client, seen };
}

function mlClient(httpClient: HttpClient, gate: ArmWriteGate, clock: FakeClock, maxWaitMs?: number) {
  return new AzureMachineLearningWorkspaces(
    { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) },
    SUB,
    {
      endpoint: ARM,
      $host: ARM,
      httpClient,
      additionalPolicies: [
        {
          policy: armWriteGatePolicy(gate, { clock, ...(maxWaitMs ? { maxWaitMs } : {}) }),
          position: 'perRetry',
        },
      ],
    },
  );
}

describe('Function: armWriteGatePolicy', () => {
  it('holds a throttled listKeys at the gate and sends it again once Retry-After has passed', async () => {
    // Prepare
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: clock.sleep });
    const { client, seen } = scriptedHttp([
      { status: 429, headers: { 'retry-after': '2', 'x-ms-ratelimit-remaining-subscription-writes': '0' } },
      { status: 429, headers: { 'retry-after': '1' } },
      {
        status: 200,
        headers: { 'x-ms-ratelimit-remaining-subscription-writes': '0' },
        body: { primaryKey: 'p', secondaryKey: 's' },
      },
    ]);
    const start = clock.now();

    // Act
    const keys = await mlClient(client, gate, clock).onlineEndpoints.listKeys('rg', 'ws', 'ep');

    // Assess: the 429s never reached the SDK's retry policy; the gate waited 3 s and resent.
    expect(keys).toEqual({ primaryKey: 'p', secondaryKey: 's' });
    expect(seen.map((r) => r.method)).toEqual(['POST', 'POST', 'POST']);
    expect(clock.now() - start).toBeGreaterThanOrEqual(3000);
    expect(gate.isPaced(SUB)).toBe(true);
  });

  it('waits a second before resending a write ARM throttled with Retry-After: 0, instead of resending at once', async () => {
    // Prepare: ARM keeps answering 429 with a zero wait
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: clock.sleep });
    const { client, seen } = scriptedHttp(
      Array.from({ length: 500 }, () => ({ status: 429, headers: { 'retry-after': '0' } })),
    );

    // Act
    const call = mlClient(client, gate, clock, 10_000).onlineEndpoints.listKeys('rg', 'ws', 'ep');

    // Assess: one send per second of the write's 10-s wait, not a resend loop
    await expect(call).rejects.toThrow(ArmThrottledError);
    expect(seen.length).toBeLessThanOrEqual(11);
  });

  it('fails with ArmThrottledError, without sending, when ARM asks to wait longer than the write may', async () => {
    // Prepare
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: clock.sleep });
    const { client, seen } = scriptedHttp([{ status: 429, headers: { 'retry-after': '90' } }]);

    // Act
    const call = mlClient(client, gate, clock, 60_000).onlineEndpoints.listKeys('rg', 'ws', 'ep');

    // Assess
    await expect(call).rejects.toThrow(ArmThrottledError);
    await expect(call).rejects.toMatchObject({ code: 'ARM_THROTTLED', retryAfterSeconds: 90 });
    expect(seen).toHaveLength(1);
  });

  it('leaves reads alone, even while the write bucket is closed', async () => {
    // Prepare
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: clock.sleep });
    gate.release(SUB, { retryAfterMs: 30_000 });
    const { client, seen } = scriptedHttp([
      { status: 200, body: { location: 'westeurope', properties: { authMode: 'Key' } } },
    ]);
    const before = clock.now();

    // Act
    const endpoint = await mlClient(client, gate, clock).onlineEndpoints.get('rg', 'ws', 'ep');

    // Assess
    expect(endpoint.properties.authMode).toBe('Key');
    expect(seen.map((r) => r.method)).toEqual(['GET']);
    expect(clock.now()).toBe(before);
  });

  it('ends a write whose caller gave it up while the gate is closed at once, and never lets it through', async () => {
    // Prepare: ARM closed the bucket for 45 s; the gate's sleep lasts until the test ends it.
    const clock = new FakeClock();
    const reopen = new Gate();
    reopen.close();
    const gate = new ArmWriteGate({ clock, sleep: () => reopen.pass() });
    gate.release(SUB, { retryAfterMs: 45_000 });
    const { client, seen } = scriptedHttp([{ status: 200, body: { accessToken: 't', expiryTimeUtc: 2e9 } }]);
    const givenUp = new AbortController();
    const call = mlClient(client, gate, clock).onlineEndpoints.getToken('rg', 'ws', 'ep', {
      abortSignal: givenUp.signal,
    });
    const outcome = call.then(
      () => 'answered',
      (error: unknown) => (error as Error).name,
    );

    // Act
    await settle();
    givenUp.abort();
    await settle();
    const whileClosed = await Promise.race([outcome, settle().then(() => 'still waiting')]);
    clock.advance(45_000);
    reopen.open();
    await settle();

    // Assess
    expect(whileClosed).toBe('AbortError');
    expect(seen).toEqual([]);
  });

  it('leaves no timer behind for a write its caller gave up while the gate is closed (real sleep)', async () => {
    // Prepare: ARM closed the bucket for 45 s; the signal reaches the gate through the SDK's pipeline
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: realSleep });
    gate.release(SUB, { retryAfterMs: 45_000 });
    const { client, seen } = scriptedHttp([{ status: 200, body: { accessToken: 't', expiryTimeUtc: 2e9 } }]);
    const givenUp = new AbortController();
    let outcome: unknown;

    // Act
    const left = await timersLeftBy(async () => {
      const call = mlClient(client, gate, clock)
        .onlineEndpoints.getToken('rg', 'ws', 'ep', { abortSignal: givenUp.signal })
        .then(
          () => 'answered',
          (error: unknown) => (error as Error).name,
        );
      await settle();
      givenUp.abort();
      outcome = await call;
    });

    // Assess: the 45-s pause was cleared with the write
    expect(outcome).toBe('AbortError');
    expect(left).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('takes a given-up write out of the paced queue, so the turn goes to the write behind it', async () => {
    // Prepare: paced to one write in flight, which another write holds; a token call waits in line,
    // a rotation's listKeys behind it.
    const clock = new FakeClock();
    const gate = new ArmWriteGate({ clock, sleep: clock.sleep, pacedConcurrency: 1 });
    await gate.acquire(SUB, clock.now() + 60_000);
    gate.release(SUB, { remaining: 0 });
    await gate.acquire(SUB, clock.now() + 60_000);
    const { client, seen } = scriptedHttp([{ status: 200, body: { primaryKey: 'p', secondaryKey: 's' } }]);
    const ml = mlClient(client, gate, clock);
    const givenUp = new AbortController();
    const token = ml.onlineEndpoints
      .getToken('rg', 'ws', 'ep', { abortSignal: givenUp.signal })
      .catch((error: unknown) => (error as Error).name);
    await settle();
    const keys = ml.onlineEndpoints.listKeys('rg', 'ws', 'ep');
    await settle();

    // Act
    givenUp.abort();
    await settle();
    gate.release(SUB, { remaining: 0 });

    // Assess
    await expect(keys).resolves.toEqual({ primaryKey: 'p', secondaryKey: 's' });
    expect(await token).toBe('AbortError');
    expect(seen.map((r) => r.url.split('?')[0]?.split('/').pop())).toEqual(['listKeys']);
  });
});
