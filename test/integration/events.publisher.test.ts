import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { HttpRequest, InvocationContext } from '@azure/functions';

import { eventGridWebhookHandler } from '../../functions/eventGridWebhook';
import { ensureLocalCertificate } from '../../local/certs';
import { type RunningEventGridTopic, startEventGridTopic } from '../../local/eventGridTopic';
import { AzureClients } from '../../shared/azureClients';
import { loadConfig } from '../../shared/config';
import { createRotationEventSink } from '../../shared/events/module';
import type { ModuleRoot } from '../../shared/services';
import { buildTestEventsModule } from '../fakes/events/buildTestEventsModule';
import { CapturingTelemetry } from '../fakes/events/capture';
import { sleep } from '../support/waitFor';

const TOPIC_KEY = 'dG9waWMta2V5LXRoYXQtbXVzdC1uZXZlci1sZWFr';
const ROTATED_KEY = 'ENDPOINT-KEY-VALUE-THAT-MUST-NOT-BE-PUBLISHED';

function rootFor(
  topic: RunningEventGridTopic,
  key: string,
  telemetry = new CapturingTelemetry(),
): ModuleRoot {
  const config = loadConfig({
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
    BROKER_SECRET_PEPPER: 'p'.repeat(40),
    EVENT_GRID_TOPIC_ENDPOINT: topic.endpoint,
    EVENT_GRID_TOPIC_KEY: key,
  });
  return { config, clients: new AzureClients(config), telemetry, clock: { now: () => Date.now() } };
}

/** Serves the real webhook handler over HTTP, as the local Functions host would. */
async function serveWebhook(
  module: ReturnType<typeof buildTestEventsModule>['module'],
): Promise<{ url: string; server: Server }> {
  const handler = eventGridWebhookHandler(() => module);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = new HttpRequest({
        method: req.method ?? 'POST',
        url: `http://127.0.0.1${req.url ?? '/'}`,
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: { bytes: Buffer.concat(chunks) },
      });
      void handler(request, new InvocationContext({ invocationId: 'it' })).then((reply) => {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
        res.end(
          reply.jsonBody !== undefined
            ? JSON.stringify(reply.jsonBody)
            : typeof reply.body === 'string'
              ? reply.body
              : '',
        );
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/events?code=k`, server };
}

describe('Function: createRotationEventSink (real EventGridPublisherClient → local topic)', () => {
  let topic: RunningEventGridTopic;

  beforeAll(async () => {
    const cert = await ensureLocalCertificate(join(__dirname, '..', '..', '.local', 'certs'));
    topic = await startEventGridTopic({ key: TOPIC_KEY, certPath: cert.certPath, keyPath: cert.keyPath });
  });
  afterEach(() => topic.clear());
  afterAll(async () => topic.stop());

  it('publishes KeyRotated as a CloudEvent over HTTPS, with no key in the payload', async () => {
    // Prepare
    const sink = createRotationEventSink(rootFor(topic, TOPIC_KEY));

    // Act
    await sink.publish({
      type: 'KeyRotated',
      endpointId: 'demo-key',
      secretName: 'demo-key-secret',
      slot: 'Secondary',
      secretVersion: 'v2',
      rotationId: 'r-1',
      time: '2026-11-23T02:00:00.000Z',
      ...({ key: ROTATED_KEY } as object),
    });

    // Assess
    const [event, ...rest] = topic.received();
    expect(rest).toHaveLength(0);
    expect(event).toEqual(
      expect.objectContaining({
        specversion: '1.0',
        type: 'aml-credential-broker.KeyRotated',
        source: '/aml-credential-broker/endpoints/demo-key',
        subject: 'demo-key-secret',
        data: expect.objectContaining({
          endpointId: 'demo-key',
          slot: 'Secondary',
          secretVersion: 'v2',
          rotationId: 'r-1',
        }) as unknown,
      }),
    );
    const wire = JSON.stringify(topic.received());
    expect(wire).not.toContain(ROTATED_KEY);
    expect(wire).not.toContain(TOPIC_KEY);
  });

  it('does not fail the caller when the topic refuses the key; the failure is counted', async () => {
    // Prepare
    const telemetry = new CapturingTelemetry();
    const sink = createRotationEventSink(rootFor(topic, 'wrong-key', telemetry));

    // Act
    await sink.publish({
      type: 'RotationFailed',
      endpointId: 'demo-key',
      secretName: 's',
      step: 'set',
      time: new Date().toISOString(),
    });

    // Assess
    expect(topic.received()).toHaveLength(0);
    expect(telemetry.count('EventsPublishFailed')).toBe(1);
  });

  it('forwards published events to the webhook, which accepts them (own types are acknowledged)', async () => {
    // Prepare
    const t = buildTestEventsModule();
    const webhook = await serveWebhook(t.module);
    topic.forwardTo(webhook.url);
    const sink = createRotationEventSink(rootFor(topic, TOPIC_KEY));

    try {
      // Act
      await sink.publish({
        type: 'DriftDetected',
        endpointId: 'demo-key',
        secretName: 's',
        time: new Date().toISOString(),
      });
      const deadline = Date.now() + 5000;
      while (topic.forwarded().length === 0 && Date.now() < deadline) await sleep(20);

      // Assess
      expect(topic.forwarded()).toEqual([
        expect.objectContaining({ status: 200, url: expect.stringContaining('code=[redacted]') as unknown }),
      ]);
      expect(t.telemetry.count('EventsUnknownType')).toBe(1);
    } finally {
      topic.forwardTo(undefined);
      await new Promise<void>((resolve) => webhook.server.close(() => resolve()));
    }
  });
});
