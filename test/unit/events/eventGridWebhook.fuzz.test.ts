import fc from 'fast-check';

import { buildTestEventsModule } from '../../fakes/events/buildTestEventsModule';
import {
  expectCleanAnswer,
  expectClientErrorShape,
  nearValid,
  orMalformed,
  printable,
} from '../../support/fuzzInput';
import { fixture, fixtureNames, send } from './webhookTestKit';

/** Every recorded delivery, Event Grid and CloudEvents schemas, single events and batches. */
const recorded = (['azure/eventgrid', 'events'] as const).flatMap((folder) =>
  fixtureNames(folder).map(
    (name) => JSON.parse(fixture(folder, name)) as Record<string, unknown> | Array<Record<string, unknown>>,
  ),
);

/** A recorded delivery with up to three fields of one of its events dropped, retyped or added. */
const nearRecorded = fc.constantFrom(...recorded).chain((delivery) => {
  if (!Array.isArray(delivery)) return nearValid(delivery).map((event) => JSON.stringify(event));
  return fc
    .nat({ max: delivery.length - 1 })
    .chain((at) =>
      nearValid(delivery[at] as Record<string, unknown>).map((event) =>
        JSON.stringify(delivery.map((original, i) => (i === at ? event : original))),
      ),
    );
});

const body = orMalformed(nearRecorded);
const RECORDED_VERSION = 'ee059b2bb5bc48398a53b168c6cdcb10';

const contentType = fc.constantFrom(
  'application/json',
  'application/cloudevents+json; charset=utf-8',
  'application/cloudevents-batch+json; charset=utf-8',
  'text/plain',
);

/** Event Grid's own header now and then, or CloudEvents binary mode (`ce-*` headers) now and then. */
const headers = fc.oneof(
  { weight: 3, arbitrary: contentType.map((type) => ({ 'content-type': type })) },
  {
    weight: 1,
    arbitrary: fc.record({
      'content-type': contentType,
      'aeg-event-type': fc.oneof(fc.constantFrom('Notification', 'SubscriptionValidation'), printable),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        'content-type': contentType,
        'ce-id': printable,
        'ce-type': fc.oneof(fc.constant('Microsoft.KeyVault.SecretNearExpiry'), printable),
        'ce-source': printable,
        'ce-specversion': fc.constantFrom('1.0', '0.3', ''),
      },
      { requiredKeys: ['content-type'] },
    ),
  },
);

describe('Function: eventGridWebhook under fuzzed input', () => {
  const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
  t.rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
  t.rotation.setCurrent('demo-key', 'v1', { rotationId: 'r-0' });
  // The recorded SecretNewVersionCreated samples name this secret and version, written by a person: the
  // accepted ones among their variants reach the "key replaced" notice, so a refused one must not.
  t.rotation.addEndpoint({ id: 'sample', secretName: 'newsecret' });
  t.rotation.setCurrent('newsecret', RECORDED_VERSION, { owner: 'a-human' });
  const effects = () =>
    JSON.stringify([
      t.rotation.enqueued,
      t.rotation.registered,
      t.rotation.retired,
      t.rotation.driftChecks,
      t.keysReplaced,
      [...t.processed.records.keys()],
    ]);

  it('answers every POST with 200 or a problem 4xx, and a refused delivery reacts to none of its events', async () => {
    await fc.assert(
      fc.asyncProperty(body, headers, async (text, sent) => {
        // Every delivery is new to the webhook, so it reaches the reactions instead of the duplicate check.
        t.processed.records.clear();
        await expectCleanAnswer(effects, () => send(t.module, { body: text, headers: sent }));
      }),
      { numRuns: 400 },
    );
  });

  it('answers every OPTIONS handshake with 200 or a problem 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.option(printable, { nil: undefined }), async (origin) => {
        const reply = await send(t.module, {
          method: 'OPTIONS',
          headers: origin === undefined ? {} : { 'webhook-request-origin': origin },
        });
        expectClientErrorShape(reply);
      }),
      { numRuns: 100 },
    );
  });
});
