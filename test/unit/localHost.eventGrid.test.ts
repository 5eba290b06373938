import { join } from 'node:path';

import { startFunctionsHost } from '../../local/host/FunctionsHost';

const app = join(__dirname, '..', 'fixtures', 'functions-app');
const key = 'default-key-for-tests';

describe('Function: startFunctionsHost (Event Grid extension webhook)', () => {
  let host: Awaited<ReturnType<typeof startFunctionsHost>>;
  let url: string;

  beforeAll(async () => {
    host = await startFunctionsHost({
      port: 0,
      masterKey: 'master-key-for-tests',
      defaultKey: key,
      entryPoints: [join(app, 'eventGridFunctions.js')],
      storageConnectionString: 'UseDevelopmentStorage=true',
      hostJsonPath: join(app, 'host.json'),
      log: () => undefined,
    });
    url = `${host.url}/runtime/webhooks/EventGrid?functionName=onEvent&code=${key}`;
  });
  afterAll(async () => {
    await host.stop();
  });

  it('answers the Event Grid validation handshake without running the function', async () => {
    // Act
    const res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify([
        {
          id: 'v1',
          eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
          data: { validationCode: 'abc-123' },
        },
      ]),
    });

    // Assess
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ validationResponse: 'abc-123' });
  });

  it('answers the CloudEvents abuse-protection OPTIONS handshake', async () => {
    // Act
    const res = await fetch(url, {
      method: 'OPTIONS',
      headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net' },
    });

    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('webhook-allowed-origin')).toBe('eventgrid.azure.net');
  });

  it('runs the function once per event in an Event Grid batch and a CloudEvent', async () => {
    // Act
    const batch = await fetch(url, {
      method: 'POST',
      body: JSON.stringify([
        {
          id: 'e1',
          eventType: 'Demo.Happened',
          subject: 's',
          data: {},
          dataVersion: '1',
          eventTime: new Date().toISOString(),
        },
        {
          id: 'e2',
          eventType: 'Demo.Happened',
          subject: 's',
          data: {},
          dataVersion: '1',
          eventTime: new Date().toISOString(),
        },
      ]),
    });
    const cloud = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'c1', type: 'Demo.Cloud', source: '/demo', data: {} }),
    });

    // Assess
    expect([batch.status, cloud.status]).toEqual([200, 200]);
    expect(host.functions().map((f) => f.name)).toEqual(['onEvent']);
  });

  it('answers 500 when the function fails (so Event Grid retries), 404 for an unknown function, 401 without a key', async () => {
    // Act
    const failed = await fetch(url, {
      method: 'POST',
      body: JSON.stringify([{ id: 'f', eventType: 'X', subject: 'fail', data: {} }]),
    });
    const unknown = await fetch(url.replace('onEvent', 'nope'), { method: 'POST', body: '[]' });
    const noKey = await fetch(`${host.url}/runtime/webhooks/EventGrid?functionName=onEvent`, {
      method: 'POST',
      body: '[]',
    });

    // Assess
    expect([failed.status, unknown.status, noKey.status]).toEqual([500, 404, 401]);
  });
});
