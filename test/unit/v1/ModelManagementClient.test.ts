import { UpstreamUnavailableError } from '../../../shared/broker/errors';
import { resolveV1TokenScope } from '../../../shared/broker/resolveV1Scope';
import { V1ServiceTokenSource } from '../../../shared/broker/V1ServiceTokenSource';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { DependencyFailedError } from '../../../shared/errors';
import { V1WebServiceKeyClient } from '../../../shared/rotation/adapters/V1WebServiceKeyClient';
import { KeyValueRejectedError } from '../../../shared/rotation/errors';
import { type MmsResponse, ModelManagementClient } from '../../../shared/v1/ModelManagementClient';
import { testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';
import { signalRecordingSleep } from '../../fakes/sleeps';

const endpoint: ManagedEndpoint = testEndpoint('legacy', 'Key', {
  kind: 'v1WebService',
  arm: { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'svc' },
  v1: { computeType: 'ACI', region: 'westeurope' },
});
const BASE =
  'https://westeurope.api.azureml.ms/modelmanagement/v1.0/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws1';

/** A pipeline that answers from a script and records every request. */
interface Scripted {
  status: number;
  bodyAsText?: string;
  headers?: Record<string, string>;
}

function scripted(answers: Scripted[], options: { retries: boolean } = { retries: true }) {
  const seen: string[] = [];
  const signals: unknown[] = [];
  const waits: number[] = [];
  const sender = {
    sendRequest: async (request: {
      method: string;
      url: string;
      body?: unknown;
      abortSignal?: unknown;
    }): Promise<MmsResponse> => {
      signals.push(request.abortSignal);
      seen.push(
        `${request.method} ${request.url}${typeof request.body === 'string' ? ` ${request.body}` : ''}`,
      );
      const next: Scripted = answers.shift() ?? { status: 500 };
      const headers: Record<string, string> = next.headers ?? {};
      return { status: next.status, bodyAsText: next.bodyAsText ?? '', headers: { get: (n) => headers[n] } };
    },
  };
  const mms = new ModelManagementClient({
    sender,
    hostTemplate: 'https://{region}.api.azureml.ms',
    sleep: async (ms) => void waits.push(ms),
    ...(options.retries ? { retries: {} } : {}),
    pollIntervalMs: 5000,
  });
  return { mms, seen, signals, waits };
}

describe('Class: ModelManagementClient', () => {
  it('builds the regional MMS URL and regenerates without a value, polling the operation until Succeeded', async () => {
    // Prepare
    const op = `${BASE}/operations/op-1`;
    const { mms, seen, waits } = scripted([
      { status: 202, headers: { 'operation-location': op } },
      { status: 200, bodyAsText: '{"state":"NotStarted"}' },
      { status: 200, bodyAsText: '{"state":"Running"}' },
      { status: 200, bodyAsText: '{"state":"Succeeded"}' },
    ]);
    // Act
    await new V1WebServiceKeyClient(mms).regenerateKey(endpoint, 'Secondary');
    // Assess
    expect(seen).toEqual([
      `POST ${BASE}/services/svc/regenerateKeys {"keyType":"Secondary"}`,
      `GET ${op}`,
      `GET ${op}`,
      `GET ${op}`,
    ]);
    expect(waits).toEqual([5000, 5000, 5000]);
  });

  it.each([
    [
      'a path',
      '/api/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws1/operations/op-7',
    ],
    [
      'another host',
      'https://mms.internal.example/modelmanagement/v1.0/operations/op-7?api-version=2019-09-30',
    ],
  ])(
    'polls {workspace base}/operations/{id} as the v1 SDK does when Operation-Location is %s',
    async (_, location) => {
      // Prepare: the SDK only takes the id from Operation-Location (regen_key), so its form is unknown
      const { mms, seen } = scripted([
        { status: 202, headers: { 'operation-location': location } },
        { status: 200, bodyAsText: '{"state":"Succeeded"}' },
      ]);
      // Act
      await mms.regenerateKey(endpoint, 'Primary');
      // Assess
      expect(seen[1]).toBe(`GET ${BASE}/operations/op-7`);
    },
  );

  it.each(['Failed', 'Cancelled', 'TimedOut'])(
    'fails the regenerate when the operation ends %s',
    async (state) => {
      // Prepare
      const { mms } = scripted([
        { status: 202, headers: { 'operation-location': `${BASE}/operations/op-2` } },
        { status: 200, bodyAsText: JSON.stringify({ state }) },
      ]);
      // Act / Assess
      await expect(mms.regenerateKey(endpoint, 'Primary')).rejects.toThrow(new RegExp(`ended ${state}`));
    },
  );

  it('fails the regenerate at once when the operation answer has no state (the v1 SDK raises too), not after 10 minutes of polling', async () => {
    // Prepare
    const { mms, seen } = scripted([
      { status: 202, headers: { 'operation-location': `${BASE}/operations/op-4` } },
      ...Array.from({ length: 200 }, () => ({ status: 200, bodyAsText: '<html>not an operation</html>' })),
    ]);
    // Act / Assess
    await expect(mms.regenerateKey(endpoint, 'Secondary')).rejects.toThrow(DependencyFailedError);
    expect(seen).toHaveLength(2);
  });

  it('waits for the operation a 200 names in Operation-Location, as the v1 SDK does for any success', async () => {
    // Prepare: read back before the operation ends, the slot would still hold its old value
    const { mms, seen } = scripted([
      { status: 200, headers: { 'operation-location': `${BASE}/operations/op-3` } },
      { status: 200, bodyAsText: '{"state":"Running"}' },
      { status: 200, bodyAsText: '{"state":"Succeeded"}' },
    ]);
    // Act
    await mms.regenerateKey(endpoint, 'Secondary');
    // Assess
    expect(seen.slice(1)).toEqual([`GET ${BASE}/operations/op-3`, `GET ${BASE}/operations/op-3`]);
  });

  it('takes a 200 without Operation-Location as done (the spec also allows a synchronous AuthKeys answer)', async () => {
    const { mms, seen } = scripted([{ status: 200, bodyAsText: '{"primaryKey":"p","secondaryKey":"s"}' }]);
    await mms.regenerateKey(endpoint, 'Secondary');
    expect(seen).toHaveLength(1);
  });

  it('stops polling the operation once the caller gives up (a rotation run out of time), before its poll timeout', async () => {
    // Prepare: an operation that keeps running; the caller gives up during the third wait
    const controller = new AbortController();
    const signals: unknown[] = [];
    let polls = 0;
    let waits = 0;
    const mms = new ModelManagementClient({
      sender: {
        sendRequest: async (request) => {
          signals.push(request.abortSignal);
          if (request.method === 'POST')
            return {
              status: 202,
              headers: { get: (n) => (n === 'operation-location' ? 'op-6' : undefined) },
            };
          polls += 1;
          return { status: 200, bodyAsText: '{"state":"Running"}', headers: { get: () => undefined } };
        },
      },
      hostTemplate: 'https://{region}.api.azureml.ms',
      sleep: async () => {
        waits += 1;
        if (waits === 3) controller.abort(new DOMException('out of time', 'AbortError'));
      },
      retries: {},
    });

    // Act
    const regenerate = mms.regenerateKey(endpoint, 'Primary', controller.signal);

    // Assess: no further poll, and every request carried the caller's signal
    await expect(regenerate).rejects.toMatchObject({ name: 'AbortError' });
    expect(polls).toBe(2);
    expect(signals.every((signal) => signal === controller.signal)).toBe(true);
  });

  it('hands the pause between two polls the signal of the caller, and ends it at once when the signal fires', async () => {
    // Prepare: an operation that keeps running; a pause that never ends on its own and records its signal
    // (realSleep clears its timer, up to pollIntervalMs, when that signal fires)
    const controller = new AbortController();
    const { sleep, given } = signalRecordingSleep();
    let polls = 0;
    const mms = new ModelManagementClient({
      sender: {
        sendRequest: async (request) => {
          if (request.method === 'POST')
            return {
              status: 202,
              headers: { get: (n) => (n === 'operation-location' ? 'op-7' : undefined) },
            };
          polls += 1;
          return { status: 200, bodyAsText: '{"state":"Running"}', headers: { get: () => undefined } };
        },
      },
      hostTemplate: 'https://{region}.api.azureml.ms',
      sleep,
      retries: {},
    });
    const regenerate = mms.regenerateKey(endpoint, 'Primary', controller.signal).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));

    // Act
    controller.abort(new DOMException('out of time', 'AbortError'));

    // Assess
    await expect(regenerate).resolves.toMatchObject({ name: 'AbortError' });
    expect(given).toEqual([controller.signal]);
    expect(polls).toBe(0);
  });

  it('refuses a 202 without Operation-Location (the v1 SDK requires it too)', async () => {
    const { mms } = scripted([{ status: 202 }]);
    await expect(mms.regenerateKey(endpoint, 'Primary')).rejects.toThrow(DependencyFailedError);
  });

  it('retries a transient 503 and reads AuthKeys and the service flags', async () => {
    // Prepare
    const { mms, seen } = scripted([
      { status: 503, headers: { 'retry-after': '1' } },
      { status: 200, bodyAsText: '{"primaryKey":"p","secondaryKey":"s"}' },
      {
        status: 200,
        bodyAsText: '{"computeType":"AKS","aadAuthEnabled":true,"authEnabled":false,"scoringUri":"u"}',
      },
    ]);
    // Act
    const keys = await mms.listKeys(endpoint);
    const service = await mms.describe(endpoint);
    // Assess
    expect(keys).toEqual({ primaryKey: 'p', secondaryKey: 's' });
    expect(service).toEqual({
      computeType: 'AKS',
      authEnabled: false,
      tokenAuthEnabled: true,
      scoringUri: 'u',
    });
    expect(seen.slice(0, 2)).toEqual([
      `POST ${BASE}/services/svc/listkeys`,
      `POST ${BASE}/services/svc/listkeys`,
    ]);
  });

  it.each([
    ['an empty body', ''],
    ['an HTML page', '<html><body>Sign in</body></html>'],
    ['JSON without computeType', '{"name":"svc","authEnabled":true}'],
  ])(
    'refuses a service answer with %s (computeType is required) rather than reading it as another compute type',
    async (_, bodyAsText) => {
      // Prepare: a wrong V1_MMS_HOST_TEMPLATE (its derivation is unconfirmed) may reach a host answering 200
      const { mms } = scripted([{ status: 200, bodyAsText }]);
      // Act
      const described = new V1WebServiceKeyClient(mms).describe(endpoint);
      // Assess: not V1_COMPUTE_TYPE_MISMATCH, which tells the operator to change v1.computeType and
      // holds the endpoint for a day as "needs a person"
      await expect(described).rejects.toThrow(DependencyFailedError);
      await expect(described).rejects.not.toHaveProperty('code', 'V1_COMPUTE_TYPE_MISMATCH');
    },
  );

  it.each([
    ['no keys', '{}'],
    ['null keys', '{"primaryKey":null,"secondaryKey":null}'],
    ['an empty secondary key', '{"primaryKey":"p","secondaryKey":""}'],
  ])(
    'refuses a listkeys answer with %s (the v1 SDK raises too) rather than reading empty keys',
    async (_, bodyAsText) => {
      // Prepare: an empty key read here would be onboarded into Key Vault as the key clients use
      const { mms } = scripted([{ status: 200, bodyAsText }]);
      // Act / Assess
      await expect(new V1WebServiceKeyClient(mms).listKeys(endpoint)).rejects.toThrow(DependencyFailedError);
    },
  );

  it("the v1 key client hands its caller's signal to the service read, and tries no more once it fired", async () => {
    // Prepare: the region answers 503 (this fake pipeline, unlike the SDK's, sends even when the signal has
    // fired); the rotation run is out of time
    const controller = new AbortController();
    const { mms, signals } = scripted([{ status: 503 }, { status: 503 }, { status: 503 }]);
    controller.abort(new DOMException('out of time', 'AbortError'));
    // Act
    const described = new V1WebServiceKeyClient(mms).describe(endpoint, controller.signal);
    // Assess: one request, no retry (withRetries stops on a fired signal)
    await expect(described).rejects.toThrow();
    expect(signals).toEqual([controller.signal]);
  });

  it('the v1 key client refuses a caller-chosen value (v1 cannot set one) and says so through its capability', async () => {
    const client = new V1WebServiceKeyClient(scripted([]).mms);
    expect(client.setsKeyValue()).toBe(false);
    await expect(client.regenerateKey(endpoint, 'Primary', 'chosen')).rejects.toThrow(KeyValueRejectedError);
  });
});

describe('Function: resolveV1TokenScope over the model-management client', () => {
  it('answers 503 (retry), not a cached 403 naming V1_COMPUTE_TYPE_MISMATCH, when the service answer names no computeType', async () => {
    // Prepare: an AKS token service, and a host that answers 200 with a page instead of the service
    const { mms } = scripted([{ status: 200, bodyAsText: '<html></html>' }], { retries: false });
    const aks = {
      ...endpoint,
      authMode: 'AMLToken' as const,
      v1: { computeType: 'AKS' as const, region: 'westeurope' },
    };
    // Act
    const resolved = await resolveV1TokenScope(aks, {
      services: mms,
      source: new V1ServiceTokenSource(mms),
      timeLimitMs: 1000,
    }).catch((e: unknown) => e);
    // Assess
    expect(resolved).toBeInstanceOf(UpstreamUnavailableError);
    expect(resolved).toMatchObject({ status: 503 });
  });
});

describe('Class: V1ServiceTokenSource', () => {
  it('reads AuthToken epoch seconds (201) into expiry and the refresh hint', async () => {
    // Prepare
    const { mms, signals } = scripted([
      {
        status: 201,
        bodyAsText:
          '{"accessToken":"t","tokenType":"Bearer","expiryOn":1900000000,"refreshAfter":1899990000}',
      },
    ]);
    const signal = new AbortController().signal;
    // Act
    const token = await new V1ServiceTokenSource(mms).getToken(endpoint, signal);
    // Assess
    expect(token).toEqual({ value: 't', expiresOnMs: 1_900_000_000_000, refreshAfterMs: 1_899_990_000_000 });
    expect(signals).toEqual([signal]); // the request a cache gives up is closed
  });

  it('classifies failures (region down, refusals) and rejects answers without a token', async () => {
    // Prepare
    const { mms } = scripted(
      [{ status: 503 }, { status: 400 }, { status: 201, bodyAsText: '{"tokenType":"Bearer"}' }],
      { retries: false },
    );
    const source = new V1ServiceTokenSource(mms);
    // Act / Assess
    await expect(source.getToken(endpoint)).rejects.toMatchObject({
      failure: 'serverError',
      upstream: 'v1ServiceToken',
    });
    await expect(source.getToken(endpoint)).rejects.toMatchObject({ failure: 'rejected' });
    await expect(source.getToken(endpoint)).rejects.toMatchObject({ failure: 'badResponse' });
  });
});
