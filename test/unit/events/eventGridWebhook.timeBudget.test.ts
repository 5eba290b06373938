import { buildTestEventsModule } from '../../fakes/events/buildTestEventsModule';
import { neverEnds } from '../../fakes/sleeps';
import { settle } from '../../support/waitFor';
import { actions, kvEvent, managedDemo, send } from './webhookTestKit';

/** Event Grid waits this long for a delivery's answer, then counts it failed and delivers it again. */
const EVENT_GRID_WAITS_MS = 30_000;

const nearExpiry = (id = 'e-1') => kvEvent(id, 'Microsoft.KeyVault.SecretNearExpiry', 'v1');
const newVersion = (id = 'w-1') => kvEvent(id, 'Microsoft.KeyVault.SecretNewVersionCreated', 'v2');

type Reply = Awaited<ReturnType<typeof send>>;

/**
 * Sends a delivery with the timers faked and moves them on `ms`: the reply if it came by then, and when.
 * Time stops at the reply unless `runOn`, which moves it on the whole `ms`, past the reply: what the
 * delivery's calls do after the answer happens too. Timers stay faked only for the delivery, so what the
 * test does after runs on real ones.
 */
async function deliverWithin(
  t: ReturnType<typeof managedDemo>,
  events: unknown[],
  ms: number,
  { runOn = false } = {},
): Promise<{ reply: Reply | undefined; answeredAtMs: number | undefined }> {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  let reply: Reply | undefined;
  let answeredAtMs: number | undefined;
  try {
    const started = Date.now();
    void send(t.module, { body: JSON.stringify(events) }).then((r) => {
      reply = r;
      answeredAtMs = Date.now() - started;
    });
    for (let at = 0; at < ms && (runOn || !reply); at += 500) await jest.advanceTimersByTimeAsync(500);
  } finally {
    jest.useRealTimers();
  }
  for (let i = 0; i < 5 && (runOn || !reply); i += 1) await settle();
  return { reply, answeredAtMs };
}

/** An ARM event about the online endpoint `name` of workspace `ws` (resource group `rg`, subscription `sub-1`). */
function armEvent(id: string, verb: 'Write' | 'Delete', name: string) {
  const resourceUri = `/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/${name}`;
  return {
    id,
    topic: '/subscriptions/sub-1',
    subject: resourceUri,
    eventType: `Microsoft.Resources.Resource${verb}Success`,
    eventTime: '2026-11-23T01:00:00Z',
    data: { resourceUri },
    dataVersion: '2',
  };
}

describe('Function: eventGridWebhook', () => {
  describe('Method: one time budget per delivery', () => {
    it.each([
      ['the registry lookup', 'registry', 'findBySecretName'],
      ['the Key Vault read', 'secrets', 'getCurrent'],
      ['the rotation job enqueue', 'jobs', 'enqueue'],
    ] as const)(
      'answers an expiry whose %s hangs 503 within 25 s, gives the call up, and the redelivery enqueues once',
      async (_what, port, call) => {
        // Prepare
        const t = managedDemo();
        t.rotation.hangNext(port);

        // Act
        const { reply, answeredAtMs } = await deliverWithin(t, [nearExpiry()], EVENT_GRID_WAITS_MS);
        const again = await send(t.module, { body: JSON.stringify([nearExpiry()]) });

        // Assess: answered before Event Grid stopped listening, retryable, the hung call's signal fired,
        // nothing remembered; the redelivery did the work once
        expect(reply?.status).toBe(503);
        expect(reply?.headers).toEqual(expect.objectContaining({ 'retry-after': '5' }));
        expect(answeredAtMs).toBe(25_000);
        expect(reply?.json()).toEqual(expect.objectContaining({ code: 'EVENT_DELIVERY_OUT_OF_TIME' }));
        expect(t.rotation.signals.find((s) => s.call === call)?.signal?.aborted).toBe(true);
        expect(actions(again)).toEqual(['rotationEnqueued']);
        expect(t.rotation.enqueued).toHaveLength(1);
        expect(t.logs.some((l) => /deliver => out of time.*eventId=e-1/.test(l))).toBe(true);
      },
    );

    it("answers 503 within 25 s when a person's write's drift check hangs, and the check is given up", async () => {
      // Prepare
      const t = managedDemo();
      t.rotation.setCurrent('demo-key', 'v2', { owner: 'a-human' });
      t.rotation.driftReport = { status: 'drift' };
      t.rotation.hangNext('drift');

      // Act
      const { reply, answeredAtMs } = await deliverWithin(t, [newVersion()], EVENT_GRID_WAITS_MS);

      // Assess: no DriftDetected published for a delivery Event Grid will send again
      expect(reply?.status).toBe(503);
      expect(answeredAtMs).toBe(25_000);
      expect(t.rotation.signals.find((s) => s.call === 'check')?.signal?.aborted).toBe(true);
      expect(t.sink.events).toHaveLength(0);
      expect(t.processed.records.size).toBe(0);
    });

    it('answers on time even when a hung call never looks at its signal, and nothing lands after the answer', async () => {
      // Prepare: the Key Vault read ignores the signal; it answers only after the delivery was answered
      const t = managedDemo();
      let answer: () => void = () => undefined;
      const getCurrent = t.rotation.secrets.getCurrent;
      t.rotation.secrets.getCurrent = async (name) => {
        await new Promise<void>((resolve) => (answer = resolve));
        return getCurrent(name);
      };

      // Act
      const { reply, answeredAtMs } = await deliverWithin(t, [nearExpiry()], EVENT_GRID_WAITS_MS);
      answer();
      for (let i = 0; i < 5; i += 1) await settle();

      // Assess: the late read's reaction enqueued nothing (its enqueue was handed a signal that had fired)
      expect(reply?.status).toBe(503);
      expect(answeredAtMs).toBe(25_000);
      expect(t.rotation.enqueued).toHaveLength(0);
      expect(t.processed.records.size).toBe(0);
    });

    it('answers 503 within 25 s when the processed-events lookup hangs', async () => {
      // Prepare
      const t = managedDemo();
      const signals: Array<AbortSignal | undefined> = [];
      t.processed.has = async (_id, _time, abortSignal) => {
        signals.push(abortSignal);
        await neverEnds(0, abortSignal);
        return false;
      };

      // Act
      const { reply, answeredAtMs } = await deliverWithin(t, [nearExpiry()], EVENT_GRID_WAITS_MS);

      // Assess
      expect(reply?.status).toBe(503);
      expect(answeredAtMs).toBe(25_000);
      expect(signals[0]?.aborted).toBe(true);
      expect(t.rotation.enqueued).toHaveLength(0);
    });

    it('shares the 25 s among the events of a batch: those done are remembered, the redelivery skips them', async () => {
      // Prepare: the first event's Key Vault read takes 20 s, the second's hangs
      const t = managedDemo();
      const getCurrent = t.rotation.secrets.getCurrent;
      let reads = 0;
      t.rotation.secrets.getCurrent = async (name, abortSignal) => {
        reads += 1;
        if (reads === 1) await new Promise((resolve) => setTimeout(resolve, 20_000));
        if (reads === 2) await neverEnds(0, abortSignal).catch(() => abortSignal?.throwIfAborted());
        return getCurrent(name, abortSignal);
      };
      const batch = [nearExpiry('e-1'), nearExpiry('e-2')];

      // Act
      const { reply, answeredAtMs } = await deliverWithin(t, batch, EVENT_GRID_WAITS_MS);
      const again = await send(t.module, { body: JSON.stringify(batch) });

      // Assess: one answer 25 s after the delivery came, not 25 s after the second event began
      expect(reply?.status).toBe(503);
      expect(answeredAtMs).toBe(25_000);
      expect(actions(again)).toEqual(['duplicate', 'rotationEnqueued']);
      expect(t.rotation.enqueued).toHaveLength(2);
    });

    it('answers a delivery that finishes in time as before, its calls handed a signal that never fired', async () => {
      // Prepare
      const t = managedDemo();

      // Act
      const reply = await send(t.module, { body: JSON.stringify([nearExpiry()]) });

      // Assess
      expect(actions(reply)).toEqual(['rotationEnqueued']);
      expect(t.rotation.signals.map((s) => s.call)).toEqual(['findBySecretName', 'getCurrent', 'enqueue']);
      expect(t.rotation.signals.every((s) => s.signal !== undefined && !s.signal.aborted)).toBe(true);
    });
  });
  describe('Method: one time budget per delivery, ARM reactions', () => {
    it('answers a write whose ARM read hangs 503 within 25 s, gives the read up, and registers nothing after the answer', async () => {
      // Prepare: a tagged Key endpoint at ARM, whose read ARM holds until told
      const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true', AUTO_REGISTER_TAG: 'rotate=yes' });
      t.describer.add('ws', 'e1', { authMode: 'Key', tags: { rotate: 'yes' } });
      const release = t.describer.holdNext();

      // Act: ARM answers after the delivery was answered; then Event Grid delivers it again
      const { reply, answeredAtMs } = await deliverWithin(
        t,
        [armEvent('w-1', 'Write', 'e1')],
        EVENT_GRID_WAITS_MS,
      );
      release();
      for (let i = 0; i < 5; i += 1) await settle();
      const registeredLate = t.rotation.registered.length;
      const again = await send(t.module, { body: JSON.stringify([armEvent('w-1', 'Write', 'e1')]) });

      // Assess: the read was handed the delivery's signal and given up; no registration landed after the 503
      expect(reply?.status).toBe(503);
      expect(answeredAtMs).toBe(25_000);
      expect(t.describer.signals[0]?.signal?.aborted).toBe(true);
      expect(registeredLate).toBe(0);
      expect(actions(again)).toEqual(['registered']);
      expect(t.rotation.registered).toHaveLength(1);
    });

    it("checks a deleted endpoint at ARM within the delivery's 25 s, not 20 s of its own from after the registry lookup", async () => {
      // Prepare: the registry lookup takes 6 s, ARM's answer (the endpoint is gone) 19.5 s more
      const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
      t.rotation.addEndpoint({ id: 'e1', secretName: 'e1-key', createdAt: '2026-11-01T00:00:00Z' });
      const findByArm = t.rotation.registry.findByArm;
      t.rotation.registry.findByArm = async (kind, arm, abortSignal) => {
        await new Promise((resolve) => setTimeout(resolve, 6_000));
        return findByArm(kind, arm, abortSignal);
      };
      t.describer.slowMs.set('ws/e1', 19_500);

      // Act: time runs on to Event Grid's 30 s, past the answer
      const { reply, answeredAtMs } = await deliverWithin(
        t,
        [armEvent('d-1', 'Delete', 'e1')],
        EVENT_GRID_WAITS_MS,
        { runOn: true },
      );
      const retiredLate = t.rotation.retired.length;
      t.rotation.registry.findByArm = findByArm;
      t.describer.slowMs.clear();
      const again = await send(t.module, { body: JSON.stringify([armEvent('d-1', 'Delete', 'e1')]) });

      // Assess: answered 503 at 25 s; the ARM check (handed the delivery's signal) did not retire at 25.5 s
      expect(reply?.status).toBe(503);
      expect(answeredAtMs).toBe(25_000);
      expect(t.describer.signals.find((s) => s.call === 'exists')?.signal?.aborted).toBe(true);
      expect(retiredLate).toBe(0);
      expect(actions(again)).toEqual(['retired']);
      expect(t.rotation.retired).toHaveLength(1);
    });

    it("hands the registry walk of a deleted workspace the delivery's signal", async () => {
      // Prepare
      const t = buildTestEventsModule({ AUTO_REGISTER_ENABLED: 'true' });
      t.rotation.addEndpoint({ id: 'e1', secretName: 'e1-key', createdAt: '2026-11-01T00:00:00Z' });
      const workspace = armEvent('d-ws', 'Delete', 'e1');
      const resourceUri = workspace.data.resourceUri.replace(/\/onlineEndpoints\/e1$/, '');
      const event = { ...workspace, subject: resourceUri, data: { resourceUri } };

      // Act
      const reply = await send(t.module, { body: JSON.stringify([event]) });

      // Assess
      expect(actions(reply)).toEqual(['retired']);
      const calls = [...t.rotation.signals, ...t.describer.signals];
      expect(calls.map((c) => c.call)).toEqual(expect.arrayContaining(['listPage', 'exists']));
      expect(calls.every((c) => c.signal !== undefined && !c.signal.aborted)).toBe(true);
    });

    it('counts a delivery out of time (metric EventsOutOfTime, by the type of the event cut)', async () => {
      // Prepare
      const t = managedDemo();
      t.rotation.hangNext('secrets');

      // Act
      const { reply } = await deliverWithin(t, [nearExpiry()], EVENT_GRID_WAITS_MS);

      // Assess
      expect(reply?.status).toBe(503);
      expect(t.telemetry.metrics.filter((m) => m.name === 'EventsOutOfTime')).toEqual([
        { name: 'EventsOutOfTime', value: 1, props: { type: 'Microsoft.KeyVault.SecretNearExpiry' } },
      ]);
    });
  });
});
