import { AzureMachineLearningWorkspaces } from '@azure/arm-machinelearning';
import {
  createHttpHeaders,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';

import { armWriteGatePolicy } from '../../../shared/rotation/adapters/armWriteGatePolicy';
import { ArmWriteGate } from '../../../shared/rotation/ArmWriteGate';
import { ArmThrottledError } from '../../../shared/rotation/errors';
import { FakeClock } from '../../fakes/FakeClock';

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
});
