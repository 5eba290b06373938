import { type RunningEventGridTopic, startEventGridTopic } from '../../../local/eventGridTopic';
import { sleep, waitFor } from '../../support/waitFor';

describe('Function: startEventGridTopic', () => {
  let topic: RunningEventGridTopic;
  const post = (body: string, key?: string) =>
    fetch(`${topic.endpoint}?api-version=2018-01-01`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents-batch+json; charset=utf-8',
        ...(key ? { 'aeg-sas-key': key } : {}),
      },
      body,
    });

  beforeEach(async () => {
    topic = await startEventGridTopic({ key: 'the-key' });
  });
  afterEach(async () => topic.stop());

  it('records a batch sent with the right key and lists it at /_topic/received', async () => {
    // Prepare
    const event = { specversion: '1.0', id: '1', type: 't', source: '/s', data: { a: 1 } };

    // Act
    const response = await post(JSON.stringify([event]), 'the-key');
    const listed = await (await fetch(`${topic.url}/_topic/received`)).json();

    // Assess
    expect(response.status).toBe(200);
    expect(topic.received()).toEqual([event]);
    expect(listed).toEqual([event]);
  });

  it.each([
    ['no key', undefined],
    ['a wrong key', 'the-kez'],
    ['a key of another length', 'k'],
  ])('refuses %s with 401 and records nothing', async (_name, key) => {
    // Act
    const response = await post(
      JSON.stringify([{ specversion: '1.0', id: '1', type: 't', source: '/s' }]),
      key,
    );

    // Assess
    expect(response.status).toBe(401);
    expect(topic.received()).toHaveLength(0);
  });

  it('refuses the access key with 401 when local auth is disabled (no key), naming the topic as Event Grid does', async () => {
    // Prepare
    await topic.stop();
    topic = await startEventGridTopic({});

    // Act
    const response = await post(
      JSON.stringify([{ specversion: '1.0', id: '1', type: 't', source: '/s' }]),
      'the-key',
    );

    // Assess
    const message = `The request authorization key is not authorized for ${new URL(topic.url).host}.`;
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: { code: 'Unauthorized', message, details: [{ code: 'Unauthorized', message }] },
    });
    expect(topic.received()).toHaveLength(0);
  });

  it('answers every publish with the injected status during an outage, and records again after it', async () => {
    // Prepare
    const event = { specversion: '1.0', id: '1', type: 't', source: '/s' };
    topic.failWith(503);

    // Act
    const during = await post(JSON.stringify([event]), 'the-key');
    topic.failWith(undefined);
    const after = await post(JSON.stringify([event]), 'the-key');

    // Assess
    expect([during.status, after.status]).toEqual([503, 200]);
    expect(topic.received()).toEqual([event]);
  });

  it('holds publishes while stalled, then records those whose publisher is still there', async () => {
    // Prepare
    const event = (id: string) => JSON.stringify([{ specversion: '1.0', id, type: 't', source: '/s' }]);
    await topic.stop();
    const lines: string[] = [];
    topic = await startEventGridTopic({ key: 'the-key', log: (line) => void lines.push(line) });
    topic.stall(true);
    const waiting = post(event('stays'), 'the-key');
    const killed = new AbortController();
    const abandoned = fetch(`${topic.endpoint}?api-version=2018-01-01`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'aeg-sas-key': 'the-key' },
      body: event('killed'),
      signal: killed.signal,
    }).catch(() => 'aborted');

    // Act: one publisher goes away mid-stall (a killed process), then the stall ends
    await sleep(100);
    const receivedWhileStalled = topic.received().length;
    killed.abort();
    expect(await abandoned).toBe('aborted');
    topic.stall(false); // at once, as the fault matrix does after a kill
    const answer = await waiting;

    // Assess
    expect(receivedWhileStalled).toBe(0);
    expect(answer.status).toBe(200);
    expect(topic.received().map((e) => e.id)).toEqual(['stays']);
    expect(lines).toContain('publish => publisher gone while stalled, nothing recorded');
  });

  it('refuses events that are not CloudEvents 1.0', async () => {
    // Act
    const response = await post(JSON.stringify([{ id: '1', eventType: 't' }]), 'the-key');

    // Assess
    expect(response.status).toBe(400);
  });

  it('records a failed forward without failing the publisher', async () => {
    // Prepare
    topic.forwardTo('http://127.0.0.1:1/api/events?code=secret-function-key');

    // Act
    const response = await post(
      JSON.stringify([{ specversion: '1.0', id: '9', type: 't', source: '/s' }]),
      'the-key',
    );
    await waitFor('the forward to be recorded', () => topic.forwarded().length > 0, {
      timeoutMs: 5000,
      intervalMs: 20,
    });

    // Assess
    expect(response.status).toBe(200);
    expect(topic.forwarded()).toEqual([
      { url: 'http://127.0.0.1:1/api/events?code=[redacted]', status: 'error', eventIds: ['9'] },
    ]);
  });
});
