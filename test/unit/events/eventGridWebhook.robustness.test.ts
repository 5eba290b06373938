import { DependencyUnavailableError, ValidationError } from '../../../shared/errors';
import { EventWebhook } from '../../../shared/events/EventWebhook';
import { reactionEventId } from '../../../shared/events/RotationEvent';
import { TableProcessedEventStore } from '../../../shared/events/TableProcessedEventStore';
import { silentLogger } from '../../../shared/logging';
import {
  EndpointChangedError,
  EndpointRecordUnreadableError,
  RotationInProgressError,
} from '../../../shared/rotation/errors';
import { noopTelemetry } from '../../../shared/telemetry';
import { buildTestEventsModule } from '../../fakes/events/buildTestEventsModule';
import { buildTestPublisher } from '../../fakes/events/buildTestPublisher';
import { settle } from '../../support/waitFor';
import { actions, CREDIT_SCORE_REGISTRATION, fixture, kvEvent, managedDemo, send } from './webhookTestKit';

const nearExpiry = fixture('events', 'keyvault-secret-near-expiry-eventgrid-pascal-numbers.json');

describe('Function: eventGridWebhook', () => {
  describe('Method: at-least-once delivery', () => {
    it('skips the second delivery of the same event', async () => {
      // Prepare
      const t = managedDemo();

      // Act
      const first = await send(t.module, { body: nearExpiry });
      const second = await send(t.module, { body: nearExpiry });

      // Assess
      expect(actions(first)).toEqual(['rotationEnqueued']);
      expect(actions(second)).toEqual(['duplicate']);
      expect(t.rotation.enqueued).toHaveLength(1);
    });

    it('changes nothing when an old near-expiry event arrives after the rotation it caused', async () => {
      // Prepare: rotation finished (v2 current), then the v1 event is redelivered under a new id
      const t = managedDemo();
      t.rotation.setCurrent('demo-key', 'v2', { rotationId: 'r-1' });
      const late = [kvEvent('late-1', 'Microsoft.KeyVault.SecretNearExpiry', 'v1')];

      // Act
      const reply = await send(t.module, { body: JSON.stringify(late) });

      // Assess
      expect(actions(reply)).toEqual(['staleVersion']);
      expect(t.rotation.enqueued).toHaveLength(0);
    });

    it('treats our own NewVersionCreated arriving before the expiry event of the old version as harmless', async () => {
      // Prepare: v2 (ours) is current; events arrive newest first
      const t = managedDemo();
      t.rotation.setCurrent('demo-key', 'v2', { rotationId: 'r-1' });
      const batch = [
        kvEvent('n-2', 'Microsoft.KeyVault.SecretNewVersionCreated', 'v2'),
        kvEvent('e-1', 'Microsoft.KeyVault.SecretNearExpiry', 'v1'),
      ];

      // Act
      const reply = await send(t.module, { body: JSON.stringify(batch) });

      // Assess
      expect(actions(reply)).toEqual(['ownWrite', 'staleVersion']);
      expect(t.rotation.enqueued).toHaveLength(0);
      expect(t.rotation.driftChecks).toHaveLength(0);
      expect(t.keysReplaced).toHaveLength(0);
    });

    it('answers 503 on a transient failure without remembering the event, so the retry runs it', async () => {
      // Prepare
      const t = managedDemo();
      t.rotation.failNext('jobs', new DependencyUnavailableError('queue', 'queue down'));

      // Act
      const failed = await send(t.module, { body: nearExpiry });
      const retried = await send(t.module, { body: nearExpiry });

      // Assess
      expect(failed.status).toBe(503);
      expect(failed.headers).toEqual(expect.objectContaining({ 'retry-after': '5' }));
      expect(actions(retried)).toEqual(['rotationEnqueued']);
      expect(t.rotation.enqueued).toHaveLength(1);
    });

    it("does not report a person's write as in sync when its drift check met a running rotation", async () => {
      // Prepare: the drift check finds the endpoint's lease held and checks nothing
      const t = managedDemo();
      t.rotation.setCurrent('demo-key', 'v2', { owner: 'a-human' });
      t.rotation.driftReport = { status: 'rotationInProgress' };
      const write = JSON.stringify([kvEvent('w-1', 'Microsoft.KeyVault.SecretNewVersionCreated', 'v2')]);

      // Act
      const busy = await send(t.module, { body: write });

      // Assess: answered (no day of retries against a stuck rotation), but not as in sync
      expect(busy.status).toBe(200);
      expect(actions(busy)).toEqual(['rotationInProgress']);
      expect(t.logs.some((l) => l.includes('external write matches'))).toBe(false);
      expect(t.logs.some((l) => l.includes('a rotation is in progress'))).toBe(true);
    });

    it('publishes DriftDetected again under the same CloudEvent id when a delivery is retried, so consumers can dedupe', async () => {
      // Prepare: a person's write that drifts; remembering the event fails once (503, Event Grid retries)
      const t = managedDemo();
      t.rotation.setCurrent('demo-key', 'v2', { owner: 'a-human' });
      t.rotation.driftReport = { status: 'drift' };
      const markProcessed = t.processed.markProcessed.bind(t.processed);
      let failures = 1;
      t.processed.markProcessed = async (record) => {
        if (failures-- > 0) throw new DependencyUnavailableError('tables', 'tables down');
        return markProcessed(record);
      };
      const write = (id: string) =>
        JSON.stringify([kvEvent(id, 'Microsoft.KeyVault.SecretNewVersionCreated', 'v2')]);

      // Act
      const failed = await send(t.module, { body: write('w-1') });
      const retried = await send(t.module, { body: write('w-1') });
      const another = await send(t.module, { body: write('w-2') });

      // Assess: one id per incoming event, the same on every delivery of it
      expect(failed.status).toBe(503);
      expect([actions(retried), actions(another)]).toEqual([['driftDetected'], ['driftDetected']]);
      const [first, again, other] = t.sink.eventIds;
      expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(again).toBe(first);
      expect(other).not.toBe(first);
    });

    it("answers 503 when Event Grid does not take a person's write's DriftDetected event in time, and the redelivery publishes it under the same id", async () => {
      // Prepare: a person's write that drifts; the topic does not answer the DriftDetected send
      const t = managedDemo();
      t.rotation.setCurrent('demo-key', 'v2', { owner: 'a-human' });
      t.rotation.driftReport = { status: 'drift' };
      t.sink.hangs = 'DriftDetected';
      const write = JSON.stringify([kvEvent('w-1', 'Microsoft.KeyVault.SecretNewVersionCreated', 'v2')]);

      // Act: the delivery, answered before Event Grid's 30 s are up (timers faked: the limit is 10 s)
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      let failed: Awaited<ReturnType<typeof send>> | undefined;
      try {
        void send(t.module, { body: write }).then((reply) => (failed = reply));
        await jest.advanceTimersByTimeAsync(9_999);
        expect(failed).toBeUndefined();
        await jest.advanceTimersByTimeAsync(1);
      } finally {
        jest.useRealTimers();
      }
      for (let i = 0; i < 5 && !failed; i += 1) await settle();
      t.sink.hangs = undefined;
      const retried = await send(t.module, { body: write });

      // Assess: retryable, nothing remembered, the send given up; the redelivery published it, same id
      expect(failed?.status).toBe(503);
      expect(failed?.headers).toEqual(expect.objectContaining({ 'retry-after': '5' }));
      expect(t.sink.signals[0]?.aborted).toBe(true);
      expect(actions(retried)).toEqual(['driftDetected']);
      expect(t.sink.eventIds).toEqual([reactionEventId('w-1', 'DriftDetected')]);
      expect(t.logs.some((l) => /route => dependency unavailable.*eventId=w-1/.test(l))).toBe(true);
    });

    it('still acknowledges a DriftDetected event the topic refused: the publisher holds it for a retry', async () => {
      // Prepare: a person's write that drifts; the topic refuses the send (the Event Grid publisher then
      // holds the event on its retry queue)
      const { publisher, retries, topic } = buildTestPublisher();
      const t = buildTestEventsModule({}, { sink: publisher });
      t.rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
      t.rotation.setCurrent('demo-key', 'v2', { owner: 'a-human' });
      t.rotation.driftReport = { status: 'drift' };
      topic.fail(1);

      // Act
      const reply = await send(t.module, {
        body: JSON.stringify([kvEvent('w-1', 'Microsoft.KeyVault.SecretNewVersionCreated', 'v2')]),
      });

      // Assess: answered 200 as before, the event held under the id derived from the incoming one
      expect(actions(reply)).toEqual(['driftDetected']);
      expect(retries.take().eventId).toBe(reactionEventId('w-1', 'DriftDetected'));
    });

    it('maps a raw SDK throttling error to 503', async () => {
      // Prepare
      const t = managedDemo();
      t.rotation.failNext('secrets', Object.assign(new Error('Too Many Requests'), { statusCode: 429 }));

      // Act
      const reply = await send(t.module, { body: nearExpiry });

      // Assess
      expect(reply.status).toBe(503);
    });

    it.each([
      ['a Key Vault event about its secret', nearExpiry],
      ['an ARM write of its endpoint', fixture('events', 'arm-resource-write-success-online-endpoint.json')],
    ])(
      'acknowledges %s as rejected when the endpoint row cannot be read, rather than a retried and dead-lettered 500',
      async (_what, body) => {
        // Prepare: the registry's row of the endpoint was edited by hand into something unreadable
        const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
        t.rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
        t.rotation.failNext(
          'registry',
          new EndpointRecordUnreadableError('demo', 'its endpoint column is not JSON'),
        );

        // Act
        const reply = await send(t.module, { body });

        // Assess: a person must mend the row; Event Grid's retries for a day would only meet it again
        expect(reply.status).toBe(200);
        expect(actions(reply)).toEqual(['rejected']);
        const rejections = t.telemetry.metrics.filter((m) => m.name === 'EventsRejected');
        expect(rejections.map((m) => m.props?.['code'])).toEqual(['ENDPOINT_RECORD_UNREADABLE']);
      },
    );

    it('acknowledges a definite rejection from the rotation module instead of retrying forever', async () => {
      // Prepare
      const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
      t.describer.add('ml-ws', 'credit-score', {
        authMode: 'Key',
        tags: { 'aml-credential-broker': 'rotate' },
      });
      t.rotation.failNext('admin', new ValidationError([{ field: 'id', message: 'bad' }]));

      // Act
      const reply = await send(t.module, {
        body: fixture('events', 'arm-resource-write-success-online-endpoint.json'),
      });

      // Assess
      expect(reply.status).toBe(200);
      expect(actions(reply)).toEqual(['rejected']);
      expect(t.telemetry.count('EventsRejected')).toBe(1);
    });
    it.each([
      [
        'a registration meeting a rotation lease still held on its id',
        'arm-resource-write-success-online-endpoint.json',
        new RotationInProgressError('ml-ws-credit-score'),
        'registered',
      ],
      [
        'a retirement losing its conditional write to other writes every time',
        'arm-resource-delete-success-online-endpoint.json',
        new EndpointChangedError('ml-ws-credit-score'),
        'retired',
      ],
    ])(
      'answers 503, not a remembered rejection, to %s (a conflict that passes), so the retry runs it',
      async (_case, body, conflict, action) => {
        // Prepare: auto-registration on, the endpoint described at ARM (and registered, for the delete)
        const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
        t.describer.add('ml-ws', 'credit-score', {
          authMode: 'Key',
          tags: { 'aml-credential-broker': 'rotate' },
        });
        // ARM has the endpoint no more once it is deleted
        if (action === 'retired') t.describer.remove('ml-ws', 'credit-score');
        if (action === 'retired') t.rotation.addEndpoint(CREDIT_SCORE_REGISTRATION);
        t.rotation.failNext('admin', conflict);
        const delivery = fixture('events', body);

        // Act
        const failed = await send(t.module, { body: delivery });
        const retried = await send(t.module, { body: delivery });

        // Assess: Event Grid retries a 503; nothing was recorded processed, so the retry reacts
        expect(failed.status).toBe(503);
        expect(failed.headers).toEqual(expect.objectContaining({ 'retry-after': '5' }));
        expect(t.telemetry.count('EventsRejected')).toBe(0);
        expect(actions(retried)).toEqual([action]);
      },
    );
  });

  describe('Method: malformed deliveries', () => {
    it.each([
      ['not JSON', '{"id": '],
      ['an empty array', '[]'],
      ['a number', '42'],
      [
        'missing data',
        JSON.stringify([{ ...kvEvent('m-1', 'Microsoft.KeyVault.SecretNearExpiry', 'v1'), data: undefined }]),
      ],
      [
        'data as a string',
        JSON.stringify([{ ...kvEvent('m-2', 'Microsoft.KeyVault.SecretNearExpiry', 'v1'), data: 'x' }]),
      ],
      [
        'id as a number',
        JSON.stringify([{ ...kvEvent('m-3', 'Microsoft.KeyVault.SecretNearExpiry', 'v1'), id: 7 }]),
      ],
      ['missing eventType', JSON.stringify([{ ...kvEvent('m-4', 'x', 'v1'), eventType: undefined }])],
      [
        'EXP that is not a number',
        JSON.stringify([
          {
            ...kvEvent('m-5', 'Microsoft.KeyVault.SecretExpired', 'v1'),
            data: { ObjectName: 'demo-key', EXP: 'soon' },
          },
        ]),
      ],
      [
        'a CloudEvent with the wrong specversion',
        JSON.stringify({ specversion: '0.3', id: 'c', type: 't', source: 's', data: {} }),
      ],
    ])('rejects %s with 400 problem+json and a log line, touching nothing', async (_name, body) => {
      // Prepare
      const t = managedDemo();

      // Act
      const reply = await send(t.module, { body });

      // Assess
      expect(reply.status).toBe(400);
      expect(reply.headers).toEqual(expect.objectContaining({ 'content-type': 'application/problem+json' }));
      expect(reply.json()).toEqual(expect.objectContaining({ code: 'MalformedEvent' }));
      expect(
        t.logs.some((l) => l.startsWith('warn EventWebhook => deliver => malformed delivery rejected')),
      ).toBe(true);
      expect(t.rotation.enqueued).toHaveLength(0);
    });

    it.each([
      ['an Event Grid event', { id: 'e-\ud800' }],
      ['a CloudEvent', { specversion: '1.0', id: '\udc00e', type: 'T', source: 's', data: {} }],
    ])(
      'rejects %s whose id is not well-formed Unicode (a lone surrogate) with 400, not a 503 retried for a day',
      async (_kind, patch) => {
        // Prepare: the real Table-backed store, whose row key cannot encode such an id
        const t = managedDemo();
        const table = {
          createTable: async () => undefined,
          getEntity: async () => {
            throw Object.assign(new Error('not found'), { statusCode: 404 });
          },
          createEntity: async () => undefined,
          deleteEntity: async () => undefined,
          listEntities: async function* () {},
        };
        const webhook = new EventWebhook({
          router: t.module.router,
          processed: new TableProcessedEventStore({ table, clock: t.clock, logger: silentLogger }),
          clock: t.clock,
          logger: silentLogger,
          telemetry: noopTelemetry,
        });
        const event = 'specversion' in patch ? patch : { ...kvEvent('u-1', 'T', 'v1'), ...patch };

        // Act: JSON escapes carry the lone surrogate through the body's UTF-8
        const reply = await send({ ...t.module, webhook }, { body: JSON.stringify([event]) });

        // Assess
        expect(reply.status).toBe(400);
        expect(reply.json()['detail']).toContain('[0].id: must be well-formed Unicode text');
        expect(t.rotation.enqueued).toHaveLength(0);
      },
    );

    it('rejects the whole batch when one event is malformed, processing none of it', async () => {
      // Prepare
      const t = managedDemo();
      const batch = [kvEvent('ok-1', 'Microsoft.KeyVault.SecretNearExpiry', 'v1'), { id: 'bad' }];

      // Act
      const reply = await send(t.module, { body: JSON.stringify(batch) });

      // Assess
      expect(reply.status).toBe(400);
      expect(reply.json()['detail']).toContain('[1].eventType: is required');
      expect(t.rotation.enqueued).toHaveLength(0);
      expect(t.processed.records.size).toBe(0);
    });

    it('refuses a payload over the 1 MB cap with a 4xx, before parsing it', async () => {
      // Prepare
      const t = managedDemo();
      const huge = JSON.stringify([
        { ...kvEvent('h-1', 'Microsoft.KeyVault.SecretNearExpiry', 'v1'), pad: 'x'.repeat(1_100_000) },
      ]);

      // Act
      const reply = await send(t.module, { body: huge });

      // Assess
      expect(reply.status).toBe(413);
      expect(t.rotation.enqueued).toHaveLength(0);
    });

    it('keeps ids and versions from the body on their own log line (no forged lines from CR/LF)', async () => {
      // Prepare: a sender with the function key puts a whole made-up log line into the event id
      const t = managedDemo();
      const forged = 'EventRouter => route => registered eventId=x endpointId=fraud';
      const event = kvEvent(`e-1\r\n${forged}`, 'Microsoft.KeyVault.SecretNearExpiry', 'v1\u2028x');

      // Act
      const reply = await send(t.module, { body: JSON.stringify([event]) });

      // Assess: every log line is one line, the escapes show where the sender put line breaks
      expect(actions(reply)).toEqual(['staleVersion']);
      expect(t.logs.length).toBeGreaterThan(0);
      for (const line of t.logs) expect(line).not.toMatch(/[\r\n\u2028\u2029]/);
      expect(t.logs.join(' ')).toContain('e-1\\r\\n');
    });
  });
});
