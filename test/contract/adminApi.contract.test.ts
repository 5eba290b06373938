import type { RunningEmulators } from '../../local/emulators';
import demoSeed from '../../local/emulators/seed.demo.json';
import { call, withEmulators } from '../support/emulators';
import { sleep } from '../support/waitFor';

const DEMO = {
  subscriptionId: '00000000-0000-0000-0000-000000000001',
  resourceGroup: 'demo-rg',
  workspace: 'demo-ws',
};

let em: RunningEmulators;
const lines: string[] = [];

async function admin(method: string, body: unknown = {}): Promise<{ status: number; json: unknown }> {
  return call(`${em.url}/_emulator/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function armToken(): Promise<string> {
  const answer = await call(
    `${em.identityEndpoint}?api-version=2019-08-01&resource=https://management.azure.com`,
    { headers: { 'x-identity-header': em.identityHeader } },
  );
  return (answer.json as { access_token: string }).access_token;
}

beforeAll(async () => {
  em = await withEmulators({ log: (line) => lines.push(line) });
  await admin('seed', demoSeed);
});

afterAll(async () => {
  await em.stop();
});

beforeEach(async () => {
  await admin('clearFaults');
  await admin('setArmWriteThrottling', {});
  await admin('resetCounters');
});

describe('Contract: admin API /_emulator/*', () => {
  it('seeds the demo workspace and exposes keys and counters', async () => {
    // Act
    const keys = await admin('keys', { ...DEMO, name: 'demo-key-endpoint' });
    const serverless = await admin('keys', { ...DEMO, name: 'demo-serverless' });
    const score = await call(`${em.url}/inference/demo-ws/demo-key-endpoint/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(keys.json as { secondaryKey: string }).secondaryKey}` },
      body: '{"data":[[1,2,3]]}',
    });
    const counters = await call(`${em.url}/_emulator/counters`);
    // Assess
    expect(keys.status).toBe(200);
    expect(keys.json).toEqual({
      primaryKey: expect.any(String) as unknown,
      secondaryKey: expect.any(String) as unknown,
    });
    expect(serverless.status).toBe(200);
    expect(score.json).toEqual([6]);
    expect(counters.json).toMatchObject({ 'scoring.score': 1, 'scoring.accepted': 1 });
  });

  it('answers 404 for an unknown method and 400 for bad arguments', async () => {
    // Act
    const unknown = await admin('nope');
    const bad = await admin('setFault', { service: 'nope' });
    // Assess
    expect(unknown.status).toBe(404);
    expect(bad.status).toBe(400);
  });
});

describe('Contract: fault injection', () => {
  const scoreUri = (): string => `${em.url}/inference/demo-ws/demo-key-endpoint/score`;

  it('answers an injected 503 with Retry-After and counts it per operation', async () => {
    // Prepare
    await admin('setFault', { service: 'scoring', fault: { status: 503, retryAfterSeconds: 7 } });
    // Act
    const answer = await call(scoreUri(), { method: 'POST', body: '{}' });
    // Assess
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect(em.control.counters()).toMatchObject({ 'scoring.score': 1, 'scoring.score.faulted': 1 });
  });

  it('skips the fault at probability 0, delays by latencyMs and drops the connection on outage', async () => {
    // Prepare
    em.control.setFault('scoring', { status: 500, probability: 0 });
    // Act
    const unaffected = await call(scoreUri(), { method: 'POST', body: '{}' });
    em.control.setFault('scoring', { latencyMs: 150 });
    const started = Date.now();
    const slow = await call(scoreUri(), { method: 'POST', body: '{}' });
    const elapsed = Date.now() - started;
    em.control.setFault('identity', { outage: true });
    // Assess
    expect(unaffected.status).toBe(401);
    expect(slow.status).toBe(401);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    await expect(call(`${em.identityEndpoint}?api-version=2019-08-01&resource=x`)).rejects.toThrow();
  });

  it('throttles ARM writes with 429, Retry-After and the ARM throttling body', async () => {
    // Prepare
    const token = await armToken();
    await admin('setArmWriteThrottling', { capacity: 1, refillPerSecond: 0.5 });
    const url = `${em.url}/subscriptions/${DEMO.subscriptionId}/resourceGroups/demo-rg/providers/Microsoft.MachineLearningServices/workspaces/demo-ws/onlineEndpoints/demo-key-endpoint/listKeys?api-version=2024-10-01`;
    // Act
    const first = await call(url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const second = await call(url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const read = await call(url.replace('/listKeys', ''), { headers: { authorization: `Bearer ${token}` } });
    // Assess
    expect([first.status, second.status, read.status]).toEqual([200, 429, 200]);
    expect(first.headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('0');
    expect(second.headers.get('retry-after')).toBe('2');
    expect(second.json).toMatchObject({
      error: {
        code: 'SubscriptionRequestsThrottled',
        message: expect.stringContaining("Number of 'write' requests for subscription") as unknown,
      },
    });
  });

  it('counts key changes, not regenerate calls: a retry with the same keyValue changes nothing', async () => {
    // Prepare
    const token = await armToken();
    const coords = { ...DEMO, name: 'demo-serverless' };
    const before = (await admin('keyChanges', coords)).json as number;
    const url = `${em.url}/subscriptions/${DEMO.subscriptionId}/resourceGroups/demo-rg/providers/Microsoft.MachineLearningServices/workspaces/demo-ws/serverlessEndpoints/demo-serverless/regenerateKeys?api-version=2024-10-01`;
    // A long-running operation: wait until it has completed, so the next call starts after it.
    const regenerate = async (body: unknown) => {
      const accepted = await call(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const status = accepted.headers.get('azure-asyncoperation') ?? '';
      const deadline = Date.now() + 20_000;
      while (status && Date.now() < deadline) {
        const poll = await call(status, { headers: { authorization: `Bearer ${token}` } });
        if ((poll.json as { status?: string }).status === 'Succeeded') break;
        await sleep(50);
      }
      return accepted;
    };
    // Act
    const answers = [
      await regenerate({ keyType: 'Secondary', keyValue: 'contract-test-value-0123456789' }),
      await regenerate({ keyType: 'Secondary', keyValue: 'contract-test-value-0123456789' }),
      await regenerate({ keyType: 'Primary' }),
    ];
    const after = (await admin('keyChanges', coords)).json as number;
    // Assess
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    expect(after - before).toBe(2);
  });

  it('never writes key or token values into its log', async () => {
    // Prepare
    const token = await armToken();
    const keys = em.control.keys({ ...DEMO, name: 'demo-key-endpoint' });
    // Act
    await call(
      `${em.url}/subscriptions/${DEMO.subscriptionId}/resourceGroups/demo-rg/providers/Microsoft.MachineLearningServices/workspaces/demo-ws/onlineEndpoints/demo-key-endpoint/listKeys?api-version=2024-10-01`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      },
    );
    await call(`${em.url}/inference/demo-ws/demo-key-endpoint/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.primaryKey}` },
      body: '{}',
    });
    // Assess
    const text = lines.join('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const secret of [token, keys.primaryKey, keys.secondaryKey, em.identityHeader])
      expect(text).not.toContain(secret);
  });
});
