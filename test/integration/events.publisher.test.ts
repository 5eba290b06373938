import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';

import { eventGridWebhookHandler } from '../../functions/eventGridWebhook';
import { eventPublishRetryHandler } from '../../functions/eventPublishRetry';
import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { ensureLocalCertificate } from '../../local/certs';
import type { RunningEmulators } from '../../local/emulators';
import { type RunningEventGridTopic, startEventGridTopic } from '../../local/eventGridTopic';
import { AzureClients } from '../../shared/azureClients';
import { TimeLimitError } from '../../shared/clock';
import { loadConfig } from '../../shared/config';
import { DependencyUnavailableError } from '../../shared/errors';
import { EventGridRotationPublisher } from '../../shared/events/EventGridRotationPublisher';
import type { IncomingEvent } from '../../shared/events/IncomingEvent';
import { KeyVaultReactions } from '../../shared/events/KeyVaultReactions';
import { createRotationEventSink } from '../../shared/events/module';
import type { PublishRetry } from '../../shared/events/PublishRetry';
import { PublishRetryWorker } from '../../shared/events/PublishRetryWorker';
import { reactionEventId } from '../../shared/events/RotationEvent';
import type { ModuleRoot } from '../../shared/services';
import { StorageJsonQueue } from '../../shared/StorageJsonQueue';
import { CapturingLogger, CapturingTelemetry } from '../fakes/capture';
import { buildTestEventsModule } from '../fakes/events/buildTestEventsModule';
import { FakeRotationPorts } from '../fakes/events/FakeRotationPorts';
import { InMemoryPoisonQueue } from '../fakes/InMemoryPoisonQueue';
import { call, useEmulatorIdentity, withEmulators } from '../support/emulators';
import { sleep, waitFor } from '../support/waitFor';

const TOPIC_KEY = 'dG9waWMta2V5LXRoYXQtbXVzdC1uZXZlci1sZWFr';
const ROTATED_KEY = 'ENDPOINT-KEY-VALUE-THAT-MUST-NOT-BE-PUBLISHED';

const RETRY_QUEUE = 'event-publish-retries-it';

function rootFor(
  topic: RunningEventGridTopic,
  key: string,
  storage: string,
  telemetry = new CapturingTelemetry(),
): ModuleRoot {
  const config = loadConfig({
    AzureWebJobsStorage: storage,
    KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
    BROKER_SECRET_PEPPER: 'p'.repeat(40),
    EVENT_GRID_TOPIC_ENDPOINT: topic.endpoint,
    EVENT_GRID_TOPIC_KEY: key,
    EVENTS_RETRY_QUEUE: RETRY_QUEUE,
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
  let azurite: RunningAzurite;
  let retries: QueueClient;

  beforeAll(async () => {
    const cert = await ensureLocalCertificate(join(__dirname, '..', '..', '.local', 'certs'));
    [topic, azurite] = await Promise.all([
      startEventGridTopic({ key: TOPIC_KEY, certPath: cert.certPath, keyPath: cert.keyPath }),
      startAzurite(),
    ]);
    retries = new QueueClient(azurite.connectionString, RETRY_QUEUE);
  });
  afterEach(async () => {
    topic.failWith(undefined);
    topic.stall(false);
    topic.clear();
    await retries.clearMessages().catch(() => undefined);
  });
  afterAll(async () => Promise.all([topic.stop(), azurite.stop()]));

  it('publishes KeyRotated as a CloudEvent over HTTPS, with no key in the payload', async () => {
    // Prepare
    const sink = createRotationEventSink(rootFor(topic, TOPIC_KEY, azurite.connectionString));

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

  it("gives a publish up when a rotation run's signal fires while the topic does not answer, holding nothing", async () => {
    // Prepare: the topic leaves publishes unanswered
    const telemetry = new CapturingTelemetry();
    const sink = createRotationEventSink(rootFor(topic, TOPIC_KEY, azurite.connectionString, telemetry));
    await retries.createIfNotExists();
    topic.stall(true);
    const budget = new AbortController();

    // Act: the run's budget ends half a second into the send
    const publishing = sink.publish(
      {
        type: 'KeyRotated',
        endpointId: 'demo-key',
        secretName: 'demo-key-secret',
        time: new Date().toISOString(),
      },
      'journaled-id',
      budget.signal,
    );
    await sleep(500);
    budget.abort(new DOMException('The rotation run is out of time.', 'AbortError'));

    // Assess: the SDK's request was given up (the topic records nothing once let go), nothing is held
    await expect(publishing).rejects.toMatchObject({ name: 'AbortError' });
    topic.stall(false);
    await sleep(300);
    expect(topic.received()).toHaveLength(0);
    expect(telemetry.count('EventsPublishFailed')).toBe(0);
    expect((await retries.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("holds a failure event the topic leaves unanswered on the retry queue, under its id, once the send's bound ends it ('hold')", async () => {
    // Prepare: the real SDK clients, with a one-second first retry; the topic leaves publishes unanswered
    const telemetry = new CapturingTelemetry();
    const sink = new EventGridRotationPublisher({
      client: new EventGridPublisherClient(topic.endpoint, 'CloudEvent', new AzureKeyCredential(TOPIC_KEY)),
      retries: new StorageJsonQueue<PublishRetry>({ client: retries, sleep }),
      retryPolicy: { firstDelaySeconds: 1, maxDelaySeconds: 1, giveUpAfterHours: 1 },
      logger: new CapturingLogger(),
      telemetry,
      clock: { now: () => Date.now() },
    });
    topic.stall(true);
    const bound = new AbortController();

    // Act: the run's stop-margin bound ends half a second into the send
    const publishing = sink.publish(
      {
        type: 'RotationFailed',
        endpointId: 'demo-key',
        secretName: 'demo-key-secret',
        step: 'set',
        reason: 'ROTATION_OUT_OF_TIME',
        time: new Date().toISOString(),
      },
      'failure-id',
      bound.signal,
      'hold',
    );
    await sleep(500);
    bound.abort(new TimeLimitError(10_000));
    await publishing;

    // Assess: the SDK's request was given up (the topic records nothing once let go); the event is held
    topic.stall(false);
    await sleep(300);
    expect(topic.received()).toHaveLength(0);
    expect(telemetry.count('EventsPublishFailed')).toBe(1);
    expect((await retries.getProperties()).approximateMessagesCount).toBe(1);
    const held = await waitFor(
      'the held event to become visible',
      async () => (await retries.receiveMessages()).receivedMessageItems[0],
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(JSON.parse(Buffer.from(held.messageText, 'base64').toString('utf8'))).toMatchObject({
      eventId: 'failure-id',
      attempt: 2,
      event: { type: 'RotationFailed', step: 'set' },
    });
  });

  it('answers a Key Vault reaction whose DriftDetected send the topic leaves unanswered with a retryable error, and publishes it under the same id on the redelivery', async () => {
    // Prepare: a person's write that drifts; the real publisher; the topic leaves publishes unanswered
    const sink = createRotationEventSink(rootFor(topic, TOPIC_KEY, azurite.connectionString));
    const rotation = new FakeRotationPorts();
    rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
    rotation.setCurrent('demo-key', 'v2', { owner: 'a-human' });
    rotation.driftReport = { status: 'drift' };
    const reactions = new KeyVaultReactions({
      rotation,
      sink,
      clock: { now: () => Date.now() },
      logger: new CapturingLogger(),
      telemetry: new CapturingTelemetry(),
      publishTimeLimitMs: 500,
    });
    const write: IncomingEvent = {
      schema: 'eventGrid',
      id: 'w-1',
      type: 'Microsoft.KeyVault.SecretNewVersionCreated',
      source: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
      subject: 'demo-key',
      data: { ObjectName: 'demo-key', Version: 'v2' },
    };
    await retries.createIfNotExists();
    topic.stall(true);

    // Act
    const started = Date.now();
    const failed = await reactions.onNewVersion(write).catch((e: unknown) => e);
    const answeredInMs = Date.now() - started;
    topic.stall(false);
    await sleep(300);
    const receivedMeanwhile = topic.received().length;
    const retried = await reactions.onNewVersion(write);

    // Assess: retryable (the webhook's 503) at the limit, nothing sent or held; the redelivery sent it
    expect(failed).toBeInstanceOf(DependencyUnavailableError);
    expect(answeredInMs).toBeLessThan(2000);
    expect(receivedMeanwhile).toBe(0);
    expect((await retries.getProperties()).approximateMessagesCount).toBe(0);
    expect(retried.action).toBe('driftDetected');
    expect(topic.received().map((e) => [e.id, e.type])).toEqual([
      [reactionEventId('w-1', 'DriftDetected'), 'aml-credential-broker.DriftDetected'],
    ]);
  });

  it('holds an event the topic refuses on the retry queue, without failing the caller', async () => {
    // Prepare
    const telemetry = new CapturingTelemetry();
    const sink = createRotationEventSink(rootFor(topic, 'wrong-key', azurite.connectionString, telemetry));

    // Act
    await sink.publish({
      type: 'RotationFailed',
      endpointId: 'demo-key',
      secretName: 's',
      step: 'set',
      time: new Date().toISOString(),
    });

    // Assess: one message, invisible for the first retry's minute.
    expect(topic.received()).toHaveLength(0);
    expect(telemetry.count('EventsPublishFailed')).toBe(1);
    expect((await retries.getProperties()).approximateMessagesCount).toBe(1);
    expect((await retries.receiveMessages()).receivedMessageItems).toHaveLength(0);
  });

  it('publishes a held event once the topic is back, once, with the id of its first try', async () => {
    // Prepare: the real SDK clients, with a one-second first retry instead of a minute.
    const logger = new CapturingLogger();
    const publisher = new EventGridRotationPublisher({
      client: new EventGridPublisherClient(topic.endpoint, 'CloudEvent', new AzureKeyCredential(TOPIC_KEY), {
        retryOptions: { maxRetries: 0 },
      }),
      retries: new StorageJsonQueue<PublishRetry>({ client: retries, sleep }),
      retryPolicy: { firstDelaySeconds: 1, maxDelaySeconds: 1, giveUpAfterHours: 1 },
      logger,
      telemetry: new CapturingTelemetry(),
      clock: { now: () => Date.now() },
    });
    const worker = new PublishRetryWorker({ publisher, poison: new InMemoryPoisonQueue(), logger });
    const retryFunction = eventPublishRetryHandler(() => worker);
    const lines: string[] = [];
    const context = new InvocationContext({ logHandler: (_l, ...args) => void lines.push(args.join(' ')) });
    topic.failWith(503);

    // Act: the first try and one retry meet the outage; the retry after it lands.
    await publisher.publish({
      type: 'KeyRotated',
      endpointId: 'demo-key',
      secretName: 'demo-key-secret',
      slot: 'Primary',
      secretVersion: 'v3',
      time: new Date().toISOString(),
    });
    const first = await deliverNext(retryFunction, context);
    topic.failWith(undefined);
    const second = await deliverNext(retryFunction, context);

    // Assess
    expect(first.attempt).toBe(2);
    expect(second).toEqual({ ...first, attempt: 3 });
    expect(lines).toEqual([
      `EventPublishRetry => run => retryQueued type=KeyRotated eventId=${first.eventId} attempt=2 retryInSeconds=1`,
      `EventPublishRetry => run => sent type=KeyRotated eventId=${first.eventId} attempt=3`,
    ]);
    expect(topic.received().map((e) => [e.id, e.type])).toEqual([
      [first.eventId, 'aml-credential-broker.KeyRotated'],
    ]);
    expect((await retries.getProperties()).approximateMessagesCount).toBe(0);
    expect(JSON.stringify([first, second, logger.lines])).not.toContain(TOPIC_KEY);
  });

  /** Waits for the next held event to become visible and runs the queue function on it, as the host would. */
  async function deliverNext(
    retryFunction: ReturnType<typeof eventPublishRetryHandler>,
    context: InvocationContext,
  ): Promise<PublishRetry> {
    const message = await waitFor(
      'a held event to become visible',
      async () => (await retries.receiveMessages()).receivedMessageItems[0],
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const text = Buffer.from(message.messageText, 'base64').toString('utf8');
    await retryFunction(JSON.parse(text), context);
    await retries.deleteMessage(message.messageId, message.popReceipt);
    return JSON.parse(text) as PublishRetry;
  }

  describe('with the managed identity, on a topic with local auth disabled (as infra/ deploys it)', () => {
    let emulators: RunningEmulators;
    let restoreIdentity: () => void;
    let idTopic: RunningEventGridTopic;
    const batch = [
      { specversion: '1.0', id: 'e-1', type: 't', source: '/s', time: new Date().toISOString() },
    ];

    beforeAll(async () => {
      const cert = await ensureLocalCertificate(join(__dirname, '..', '..', '.local', 'certs'));
      emulators = await withEmulators();
      restoreIdentity = useEmulatorIdentity(emulators);
      idTopic = await startEventGridTopic({
        certPath: cert.certPath,
        keyPath: cert.keyPath,
        checkToken: emulators.checkToken,
      });
    });
    afterEach(() => idTopic.clear());
    afterAll(async () => {
      restoreIdentity();
      await Promise.all([idTopic.stop(), emulators.stop()]);
    });

    it("publishes with the app's credential (a bearer token for Event Grid) and the event arrives", async () => {
      // Prepare: no EVENT_GRID_TOPIC_KEY, so the sink uses the app's managed identity, as in Azure.
      const telemetry = new CapturingTelemetry();
      const sink = createRotationEventSink(rootFor(idTopic, '', azurite.connectionString, telemetry));

      // Act
      await sink.publish({
        type: 'KeyRotated',
        endpointId: 'demo-key',
        secretName: 'demo-key-secret',
        slot: 'Primary',
        secretVersion: 'v7',
        time: new Date().toISOString(),
      });

      // Assess
      expect(idTopic.received().map((e) => [e.type, e.subject])).toEqual([
        ['aml-credential-broker.KeyRotated', 'demo-key-secret'],
      ]);
      expect(telemetry.count('EventsPublishFailed')).toBe(0);
      expect(emulators.control.counters()['identity.token']).toBeGreaterThan(0);
    });

    it('refuses a token for another audience and an access key with 401, recording nothing', async () => {
      // Prepare: the app's credential asked for Key Vault's audience instead of Event Grid's.
      const credential = new AzureClients(rootFor(idTopic, '', azurite.connectionString).config).credential;
      const vaultToken = { getToken: () => credential.getToken('https://vault.azure.net/.default') };
      const publisher = (auth: ConstructorParameters<typeof EventGridPublisherClient>[2]) =>
        new EventGridPublisherClient(idTopic.endpoint, 'CloudEvent', auth, {
          retryOptions: { maxRetries: 0 },
        });
      const event = { type: 't', source: '/s', data: {} };

      // Act, Assess
      await expect(publisher(vaultToken).send([event])).rejects.toMatchObject({ statusCode: 401 });
      await expect(publisher(new AzureKeyCredential(TOPIC_KEY)).send([event])).rejects.toMatchObject({
        statusCode: 401,
      });
      expect(idTopic.received()).toHaveLength(0);
    });

    it('refuses a publish without any credential with 401, as Event Grid words it', async () => {
      // Act
      const response = await call(`${idTopic.endpoint}?api-version=2018-01-01`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8' },
        body: JSON.stringify(batch),
      });

      // Assess
      expect(response.status).toBe(401);
      expect(response.json).toMatchObject({
        error: {
          code: 'Unauthorized',
          message:
            'Request must contain one of the following authorization signature: aeg-sas-token, aeg-sas-key.',
        },
      });
      expect(idTopic.received()).toHaveLength(0);
    });
  });

  it('forwards published events to the webhook, which accepts them (own types are acknowledged)', async () => {
    // Prepare
    const t = buildTestEventsModule();
    const webhook = await serveWebhook(t.module);
    topic.forwardTo(webhook.url);
    const sink = createRotationEventSink(rootFor(topic, TOPIC_KEY, azurite.connectionString));

    try {
      // Act
      await sink.publish({
        type: 'DriftDetected',
        endpointId: 'demo-key',
        secretName: 's',
        time: new Date().toISOString(),
      });
      await waitFor('the forward to the webhook', () => topic.forwarded().length > 0, {
        timeoutMs: 5000,
        intervalMs: 20,
      });

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
