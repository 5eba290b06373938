import type { PipelineRequest } from '@azure/core-rest-pipeline';

import type { Sleep } from '../../../shared/clock';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { DEFAULT_PROBE } from '../../../shared/endpoints/validateProbe';
import { DependencyFailedError } from '../../../shared/errors';
import {
  ArmEndpointKeyClient,
  type ArmOperationResponse,
  type OnlineEndpointOperations,
  type RegenerateKeysPoller,
} from '../../../shared/rotation/adapters/ArmEndpointKeyClient';
import { ArmServerlessKeyClient } from '../../../shared/rotation/adapters/ArmServerlessKeyClient';
import { EndpointKeyClientRouter } from '../../../shared/rotation/EndpointKeyClientRouter';
import { KeyValueRejectedError, UnsupportedEndpointKindError } from '../../../shared/rotation/errors';

const endpoint = (kind: ManagedEndpoint['kind']): ManagedEndpoint => ({
  id: 'ep-one',
  kind,
  arm: { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'ep1' },
  authMode: 'Key',
  secretName: 'ep-one',
  rotationPeriodHours: 100,
  gracePeriodHours: 25,
  probe: DEFAULT_PROBE,
  brokerKeyAccess: false,
  enabled: true,
  createdAt: '',
  updatedAt: '',
});

const restError = (statusCode: number) =>
  Object.assign(new Error(`HTTP ${statusCode}`), { name: 'RestError', statusCode });

/** Response headers as the pipeline reads them (names without case). */
const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n.toLowerCase()] });

/**
 * A serverless key client, polling every second, whose regenerate ARM accepts (202, operation op/1) and
 * whose operation answers each poll with `status()`; `retryAfter` is both answers' Retry-After.
 */
const acceptedOperation = (options: {
  status: () => string;
  pollTimeoutMs?: number;
  sleep?: Sleep;
  retryAfter?: string;
  sent?: (request: PipelineRequest) => void;
}): ArmServerlessKeyClient => {
  const retryAfter: Record<string, string> =
    options.retryAfter === undefined ? {} : { 'retry-after': options.retryAfter };
  return new ArmServerlessKeyClient({
    armEndpoint: 'https://arm.test',
    apiVersion: '2025-06-01',
    pollIntervalMs: 1000,
    pollTimeoutMs: options.pollTimeoutMs ?? 600_000,
    sleep: options.sleep ?? (async () => undefined),
    client: () => ({
      sendRequest: async (request) => {
        options.sent?.(request);
        if (request.url.includes('/regenerateKeys'))
          return {
            status: 202,
            headers: headers({ 'azure-asyncoperation': 'https://arm.test/op/1', ...retryAfter }),
          };
        return {
          status: 200,
          headers: headers(retryAfter),
          bodyAsText: JSON.stringify({ status: options.status() }),
        };
      },
    }),
  });
};

describe('Class: ArmEndpointKeyClient', () => {
  it('maps a 400 to our key value to KeyValueRejectedError, and passes other failures through', async () => {
    // Prepare
    const bodies: unknown[] = [];
    const ops: OnlineEndpointOperations = {
      get: async () => ({ properties: { authMode: 'Key', scoringUri: 'https://x/score' } }),
      listKeys: async () => ({ primaryKey: 'p', secondaryKey: 's' }),
      beginRegenerateKeys: async (_rg, _ws, _n, body) => {
        bodies.push(body);
        if (body.keyValue !== undefined) throw restError(400);
        throw restError(404);
      },
    };
    const client = new ArmEndpointKeyClient({ onlineEndpoints: () => ops, sleep: async () => undefined });

    // Act / Assess
    await expect(client.regenerateKey(endpoint('onlineEndpoint'), 'Secondary', 'chosen')).rejects.toThrow(
      KeyValueRejectedError,
    );
    await expect(client.regenerateKey(endpoint('onlineEndpoint'), 'Secondary')).rejects.toThrow(
      DependencyFailedError,
    );
    expect(bodies).toEqual([{ keyType: 'Secondary', keyValue: 'chosen' }, { keyType: 'Secondary' }]);
    expect(await client.describe(endpoint('onlineEndpoint'))).toEqual({
      authMode: 'Key',
      scoringUri: 'https://x/score',
    });
  });
});

describe('Class: ArmEndpointKeyClient (a caller that gives up)', () => {
  it('stops waiting for a regenerate whose operation never ends once the signal fires, and hands the signal to the SDK', async () => {
    // Prepare: the SDK's request is accepted, and its poll never answers; it sees the signal only at its next request
    const given: Array<AbortSignal | undefined> = [];
    let calls = 0;
    const ops: OnlineEndpointOperations = {
      get: async () => ({ properties: { authMode: 'Key' } }),
      listKeys: async (_rg, _ws, _n, options) => {
        given.push(options?.abortSignal);
        return { primaryKey: 'p', secondaryKey: 's' };
      },
      beginRegenerateKeys: async (_rg, _ws, _n, _body, options) => {
        calls += 1;
        given.push(options?.abortSignal);
        return { isDone: () => false, poll: () => new Promise<void>(() => undefined) };
      },
    };
    const client = new ArmEndpointKeyClient({ onlineEndpoints: () => ops, sleep: async () => undefined });
    const controller = new AbortController();

    // Act
    await client.listKeys(endpoint('onlineEndpoint'), controller.signal);
    const regenerate = client.regenerateKey(endpoint('onlineEndpoint'), 'Primary', 'v', controller.signal);
    controller.abort(new DOMException('out of time', 'AbortError'));

    // Assess: rejected as the caller's abort, not retried (another attempt would be refused the same way)
    await expect(regenerate).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toBe(1);
    expect(given).toEqual([controller.signal, controller.signal]);
  });
});

describe('Function: describe of the ARM key clients (a caller that gives up)', () => {
  it("hands the caller's signal to the read, and tries no more once it fired (online and serverless)", async () => {
    // Prepare: ARM answers 503 (a retryable failure) while the rotation run runs out of time
    const controller = new AbortController();
    const given: unknown[] = [];
    const online = new ArmEndpointKeyClient({
      onlineEndpoints: () => ({
        get: async (_rg, _ws, _n, options) => {
          given.push(options?.abortSignal);
          controller.abort(new DOMException('out of time', 'AbortError'));
          throw restError(503);
        },
        listKeys: async () => ({ primaryKey: 'p', secondaryKey: 's' }),
        beginRegenerateKeys: async () => ({ isDone: () => true, poll: async () => undefined }),
      }),
      sleep: async () => undefined,
    });
    const sent: unknown[] = [];
    const serverless = new ArmServerlessKeyClient({
      armEndpoint: 'https://arm.test/',
      apiVersion: '2025-06-01',
      sleep: async () => undefined,
      client: () => ({
        sendRequest: async (request) => {
          sent.push(request.abortSignal);
          return { status: 503, headers: { get: () => undefined } };
        },
      }),
    });

    // Act
    const onlineRead = online.describe(endpoint('onlineEndpoint'), controller.signal);
    await expect(onlineRead).rejects.toThrow();
    const serverlessRead = serverless.describe(endpoint('serverlessEndpoint'), controller.signal);

    // Assess: one request each, carrying the signal (the SDK's pipeline ends it when the signal fires)
    await expect(serverlessRead).rejects.toThrow();
    expect(given).toEqual([controller.signal]);
    expect(sent).toEqual([controller.signal]);
  });
});

describe('Class: ArmEndpointKeyClient (the long-running regenerate)', () => {
  /**
   * Operations whose regenerate ARM accepts and whose operation ends at the `polls`-th poll (the SDK
   * polls once as it starts); each response carries the next of `retryAfters` as its Retry-After.
   */
  const operation = (polls: number, retryAfters: ReadonlyArray<string | undefined>, done: string[]) => {
    let answered = 0;
    const ops: OnlineEndpointOperations = {
      get: async () => ({ properties: { authMode: 'Key' } }),
      listKeys: async () => ({ primaryKey: 'p', secondaryKey: 's' }),
      beginRegenerateKeys: async (_rg, _ws, _n, _body, options) => {
        const respond = () => {
          const value = retryAfters[answered];
          answered += 1;
          const response: ArmOperationResponse = {
            headers: { get: (name) => (name === 'retry-after' ? value : undefined) },
          };
          options?.onResponse?.(response);
        };
        respond(); // the request's 202
        respond(); // the SDK's first poll, as beginRegenerateKeys makes it
        const poller: RegenerateKeysPoller = {
          isDone: () => answered - 1 >= polls,
          poll: async () => {
            done.push('poll');
            respond();
          },
        };
        return poller;
      },
    };
    return ops;
  };

  it('pauses as Retry-After asks before each poll, and not after the one that saw the operation end', async () => {
    // Prepare: ARM asks 3 s, then 2 s, and the third poll sees the operation done (no Retry-After on it)
    const done: string[] = [];
    const client = new ArmEndpointKeyClient({
      onlineEndpoints: () => operation(3, ['3', '3', '2', undefined], done),
      sleep: async (ms) => void done.push(`sleep ${ms}`),
    });

    // Act
    await client.regenerateKey(endpoint('onlineEndpoint'), 'Secondary', 'v');

    // Assess: the SDK's own loop (pollUntilDone) would pause once more after the last poll, on a timer
    expect(done).toEqual(['sleep 3000', 'poll', 'sleep 2000', 'poll']);
  });

  it('pauses its poll interval when ARM sends no Retry-After or Retry-After: 0', async () => {
    // Prepare
    const done: string[] = [];
    const client = new ArmEndpointKeyClient({
      onlineEndpoints: () => operation(3, [undefined, undefined, '0', undefined], done),
      sleep: async (ms) => void done.push(`sleep ${ms}`),
      pollIntervalMs: 250,
    });

    // Act
    await client.regenerateKey(endpoint('onlineEndpoint'), 'Primary');

    // Assess
    expect(done).toEqual(['sleep 250', 'poll', 'sleep 250', 'poll']);
  });

  it('neither pauses nor polls a regenerate ARM answered as done at once', async () => {
    // Prepare
    const done: string[] = [];
    const client = new ArmEndpointKeyClient({
      onlineEndpoints: () => operation(1, ['1', undefined], done),
      sleep: async (ms) => void done.push(`sleep ${ms}`),
    });

    // Act
    await client.regenerateKey(endpoint('onlineEndpoint'), 'Primary');

    // Assess
    expect(done).toEqual([]);
  });
});

describe('Function: listKeys of the ARM key clients', () => {
  it.each([
    ['no secondaryKey', { primaryKey: 'p' }],
    ['a null primaryKey', { primaryKey: null, secondaryKey: 's' }],
    ['empty keys', { primaryKey: '', secondaryKey: '' }],
  ])(
    'refuses an answer with %s instead of reading an empty key (online and serverless)',
    async (_, answer) => {
      // Prepare
      const online = new ArmEndpointKeyClient({
        onlineEndpoints: () => ({
          get: async () => ({ properties: { authMode: 'Key' } }),
          listKeys: async () => answer as { primaryKey?: string; secondaryKey?: string },
          beginRegenerateKeys: async () => ({ isDone: () => true, poll: async () => undefined }),
        }),
        sleep: async () => undefined,
      });
      const serverless = new ArmServerlessKeyClient({
        armEndpoint: 'https://arm.test/',
        apiVersion: '2025-06-01',
        sleep: async () => undefined,
        client: () => ({
          sendRequest: async () => ({
            status: 200,
            headers: { get: () => undefined },
            bodyAsText: JSON.stringify(answer),
          }),
        }),
      });

      // Act / Assess
      await expect(online.listKeys(endpoint('onlineEndpoint'))).rejects.toThrow(DependencyFailedError);
      await expect(serverless.listKeys(endpoint('serverlessEndpoint'))).rejects.toThrow(
        /The key list of ep-one came without/,
      );
    },
  );
});

describe('Class: ArmServerlessKeyClient', () => {
  it('regenerates through the pipeline and polls the async operation until it succeeds', async () => {
    // Prepare
    const seen: string[] = [];
    const waits: number[] = [];
    let polls = 0;
    const client = new ArmServerlessKeyClient({
      armEndpoint: 'https://arm.test/',
      apiVersion: '2025-06-01',
      sleep: async (ms) => void waits.push(ms),
      client: () => ({
        sendRequest: async (request) => {
          seen.push(
            `${request.method} ${request.url} ${typeof request.body === 'string' ? request.body : ''}`,
          );
          if (request.url.includes('/regenerateKeys'))
            return {
              status: 202,
              headers: headers({ 'azure-asyncoperation': 'https://arm.test/op/1', 'retry-after': '1' }),
            };
          if (request.url.endsWith('/op/1')) {
            polls += 1;
            return {
              status: 200,
              headers: headers({}),
              bodyAsText: JSON.stringify({ status: polls < 2 ? 'InProgress' : 'Succeeded' }),
            };
          }
          return {
            status: 200,
            headers: headers({}),
            bodyAsText: JSON.stringify({
              properties: { authMode: 'Key', inferenceEndpoint: { uri: 'https://s/score' } },
            }),
          };
        },
      }),
    });

    // Act
    await client.regenerateKey(endpoint('serverlessEndpoint'), 'Primary', 'v');
    const described = await client.describe(endpoint('serverlessEndpoint'));

    // Assess
    expect(seen[0]).toBe(
      'POST https://arm.test/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws1/serverlessEndpoints/ep1/regenerateKeys?api-version=2025-06-01 {"keyType":"Primary","keyValue":"v"}',
    );
    expect(polls).toBe(2);
    expect(waits[0]).toBe(1000);
    expect(described).toEqual({ authMode: 'Key', scoringUri: 'https://s/score' });
  });
});

describe('Class: ArmServerlessKeyClient polling bounds', () => {
  it('waits its poll interval when the operation answers Retry-After: 0, so the poll timeout still ends a stuck operation', async () => {
    // Prepare: an operation that never ends and always asks to be polled again at once
    let polls = 0;
    const waits: number[] = [];
    const client = acceptedOperation({
      pollTimeoutMs: 10_000,
      sleep: async (ms) => void waits.push(ms),
      retryAfter: '0',
      status: () => {
        polls += 1;
        // A safety stop so the unbounded loop ends the test instead of hanging it.
        return polls > 10_000 ? 'Succeeded' : 'InProgress';
      },
    });

    // Act
    const outcome = client.regenerateKey(endpoint('serverlessEndpoint'), 'Primary');

    // Assess: about pollTimeoutMs / pollIntervalMs polls, each after a wait, then a definite failure
    await expect(outcome).rejects.toThrow(DependencyFailedError);
    expect(polls).toBe(10);
    expect(waits.every((ms) => ms === 1000)).toBe(true);
  });

  it('stops polling an operation that never ends once the signal fires, well before its poll timeout', async () => {
    // Prepare: an operation that stays InProgress; the caller gives up during the third wait
    const controller = new AbortController();
    const signals: unknown[] = [];
    let polls = 0;
    let waits = 0;
    const client = acceptedOperation({
      sleep: async () => {
        waits += 1;
        if (waits === 3) controller.abort(new DOMException('out of time', 'AbortError'));
      },
      sent: (request) => void signals.push(request.abortSignal),
      status: () => {
        polls += 1;
        return 'InProgress';
      },
    });

    // Act
    const outcome = client.regenerateKey(endpoint('serverlessEndpoint'), 'Primary', 'v', controller.signal);

    // Assess
    await expect(outcome).rejects.toMatchObject({ name: 'AbortError' });
    expect(polls).toBe(2);
    expect(signals.every((s) => s === controller.signal)).toBe(true);
  });

  it.each([
    ['succeeded', 'resolves'],
    ['Cancelled', 'rejects'],
    ['FAILED', 'rejects'],
  ])(
    'reads the operation status %s as ARM pollers do (any case, both spellings of cancelled): it %s at once',
    async (status, ending) => {
      // Prepare: the SDK's poller compares statuses without case and takes Cancelled too
      let polls = 0;
      const client = acceptedOperation({
        status: () => {
          polls += 1;
          return status;
        },
      });

      // Act
      const outcome = client.regenerateKey(endpoint('serverlessEndpoint'), 'Primary');

      // Assess: one poll decides it, instead of polling until the 10-minute timeout
      if (ending === 'resolves') await expect(outcome).resolves.toBeUndefined();
      else await expect(outcome).rejects.toThrow(/regenerateKeys ended/);
      expect(polls).toBe(1);
    },
  );
});

describe('Class: EndpointKeyClientRouter', () => {
  it('refuses kinds without a key client (v1 web services for now)', async () => {
    const router = new EndpointKeyClientRouter({});
    await expect(router.listKeys(endpoint('v1WebService'))).rejects.toThrow(UnsupportedEndpointKindError);
  });
});
