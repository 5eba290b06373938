import { join } from 'node:path';

import { QueueClient } from '@azure/storage-queue';

import { type LocalStack, startLocalStack } from '../../local/stack';
import { waitFor } from '../support/waitFor';

/**
 * Queue messages no delivery can handle, through the compiled app in the local Functions host on Azurite:
 * a rotation job or held event that does not parse goes to `<queue>-poison` on its first delivery (retrying
 * cannot fix it), while a job a newer version wrote (format `v` 2) is put back on its own queue, not poisoned.
 */
const encode = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
/** A value that must never reach a log line: it stands for whatever a hand-written message might hold. */
const CANARY = 'NOT-TO-BE-LOGGED';

jest.setTimeout(120_000);

describe('Malformed queue messages on the local stack', () => {
  const root = join(__dirname, '..', '..');
  let stack: LocalStack;
  const queue = (name: string) => new QueueClient(stack.storageConnectionString, name);

  beforeAll(async () => {
    stack = await startLocalStack({ root, functionsPort: 0, emulatorPort: 0 });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  /** The texts on a queue, without taking them (none before anything created it). */
  async function texts(name: string): Promise<string[]> {
    const client = queue(name);
    if (!(await client.exists())) return [];
    const { peekedMessageItems } = await client.peekMessages({ numberOfMessages: 32 });
    return peekedMessageItems.map((m) => m.messageText);
  }

  /** Sends `sent` to `name`, waits for it on `<name>-poison` and returns the host's output then. */
  async function poisonedOnce(name: string, sent: readonly string[]): Promise<string> {
    const work = queue(name);
    await work.createIfNotExists();
    for (const text of sent) await work.sendMessage(text);
    await waitFor(
      `${sent.length} messages on ${name}-poison`,
      async () => {
        const poisoned = await texts(`${name}-poison`);
        return sent.every((text) => poisoned.includes(text));
      },
      { timeoutMs: 20_000, intervalMs: 200, describe: () => stack.hostOutput().slice(-4000) },
    );
    // The worker moved them and completed each delivery; nothing is left for the host to deliver again.
    await waitFor('the work queue empty', async () => (await texts(name)).length === 0, {
      timeoutMs: 10_000,
    });
    return stack.hostOutput();
  }

  it('moves a rotation job that does not parse to <ROTATION_QUEUE>-poison on its first delivery, naming what is wrong', async () => {
    // Prepare: a reason no version knows (format 1), and text that is not JSON
    const unknownReason = encode(
      JSON.stringify({ endpointId: 'ep-malformed', reason: 'whenever', note: CANARY }),
    );
    const notJson = encode(`not a job ${CANARY}`);

    // Act
    const output = await poisonedOnce('rotation-jobs', [unknownReason, notJson]);

    // Assess: one delivery each (the host itself never poisoned them), a line naming the queue and the fields
    expect(output).not.toMatch(/moved to 'rotation-jobs-poison' after/);
    expect(output).toContain(
      'RotationWorker => handle => malformed job moved to poison queue queue=rotation-jobs-poison dequeueCount=1 issues=reason: one of schedule, manual, nearExpiry, expired, drift',
    );
    expect(output).toContain(
      'RotationWorker => handle => malformed job moved to poison queue queue=rotation-jobs-poison dequeueCount=1 issues=message: must be JSON',
    );
    expect(output).not.toContain(CANARY);
  });

  it('moves a held event that does not parse to <EVENTS_RETRY_QUEUE>-poison on its first delivery, naming what is wrong', async () => {
    // Prepare
    const incomplete = encode(JSON.stringify({ eventId: 'evt-malformed', attempt: 2, note: CANARY }));

    // Act
    const output = await poisonedOnce('event-publish-retries', [incomplete]);

    // Assess
    expect(output).not.toMatch(/moved to 'event-publish-retries-poison' after/);
    expect(output).toMatch(
      /EventPublishRetry => handle => malformed held event moved to poison queue queue=event-publish-retries-poison dequeueCount=1 issues=firstFailedAt: an ISO time; event\.type: /,
    );
    expect(output).not.toContain(CANARY);
  });

  it("names the delivered message's id and its copy's on the poison queue, which the copy does not keep", async () => {
    // Prepare
    const jobs = queue('rotation-jobs');
    await jobs.createIfNotExists();
    const text = encode(JSON.stringify({ endpointId: 'ep-ids', reason: 'whenever' }));

    // Act
    const { messageId } = await jobs.sendMessage(text);
    await waitFor(
      "the worker's line naming the message",
      () => stack.hostOutput().includes(`) messageId=${messageId} poisonMessageId=`),
      { timeoutMs: 20_000, intervalMs: 200, describe: () => stack.hostOutput().slice(-4000) },
    );

    // Assess: both lines name the delivered id and the id the copy got on the poison queue
    const poison = queue('rotation-jobs-poison');
    const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
    const copy = peekedMessageItems.find((m) => m.messageText === text);
    expect(copy?.messageId).toBeDefined();
    expect(copy?.messageId).not.toBe(messageId);
    const output = stack.hostOutput();
    expect(output).toContain(
      `RotationWorker => handle => malformed job moved to poison queue queue=rotation-jobs-poison dequeueCount=1 issues=reason: one of schedule, manual, nearExpiry, expired, drift messageId=${messageId} poisonMessageId=${copy?.messageId}`,
    );
    expect(output).toMatch(
      new RegExp(
        `RotationWorker => run => malformed, moved to rotation-jobs-poison \\(.*\\) messageId=${messageId} poisonMessageId=${copy?.messageId}`,
      ),
    );
  });

  it('puts a job of a newer format back on its queue for an instance that reads it, never into the poison queue', async () => {
    // Prepare: what a newer version, deployed beside this one, may write
    const newer = encode(JSON.stringify({ v: 2, endpointId: 'ep-newer', reason: 'compromised' }));
    const jobs = queue('rotation-jobs');
    await jobs.createIfNotExists();

    // Act
    await jobs.sendMessage(newer);
    await waitFor(
      'the job put back',
      () => stack.hostOutput().includes('job of a newer format put back for an instance that reads it'),
      { timeoutMs: 20_000, intervalMs: 200, describe: () => stack.hostOutput().slice(-4000) },
    );

    // Assess: a copy waits, invisible, on the job queue; nothing of it on the poison queue
    expect((await jobs.getProperties()).approximateMessagesCount).toBe(1);
    const poisoned = await texts('rotation-jobs-poison');
    expect(poisoned.map((t) => Buffer.from(t, 'base64').toString('utf8'))).not.toContainEqual(
      expect.stringContaining('ep-newer'),
    );
  });
});
