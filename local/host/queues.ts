import { type DequeuedMessageItem, QueueClient } from '@azure/storage-queue';

import { type HostSettings, resolveSettings } from './hostJson';
import { HOST_API_REASON, type InvocationInput } from './invocation';
import { bindingText, type RegisteredFunction } from './registry';

/** Options of {@link startQueues}. */
export interface QueuesOptions {
  readonly functions: readonly RegisteredFunction[];
  readonly env: NodeJS.ProcessEnv;
  readonly settings: HostSettings['queues'];
  readonly run: (fn: RegisteredFunction, input: InvocationInput) => Promise<unknown>;
  readonly log: (line: string) => void;
  /** Shortest wait between polls of an empty queue. @default 100 (env LOCAL_FUNCTIONS_QUEUE_MIN_POLL_MS) */
  readonly minPollMs?: number;
}

/** Running queue listeners. */
export interface Queues {
  /** Runs a queue function now with `input` as the message text (admin API); no retries. */
  runNow(fn: RegisteredFunction, input: string | undefined): Promise<void>;
  stop(): Promise<void>;
}

// How long a received message stays invisible while its handler runs (the SDK's 10 min lease).
const LEASE_SECONDS = 600;

/**
 * Polls a storage queue per queue-triggered function, like the WebJobs queue listener: batches of
 * `batchSize`, run concurrently, the next batch fetched once `newBatchThreshold` or fewer are running;
 * delete on success; on failure the message becomes visible again after host.json `visibilityTimeout`,
 * and once `dequeueCount` reaches `maxDequeueCount` it is copied to `<queue>-poison` and deleted; a
 * message that is not base64 (with `messageEncoding: base64`) goes there at once, without invoking the
 * function. Empty polls back off exponentially from `minPollMs` to `maxPollingInterval`.
 */
export function startQueues(options: QueuesOptions): Queues {
  const minPollMs = options.minPollMs ?? Number(options.env['LOCAL_FUNCTIONS_QUEUE_MIN_POLL_MS'] ?? 100);
  const waits = new PollWaits();
  const loops = options.functions.map((fn) => {
    options.log(`Queue '${fn.metadata.name}': listening on '${queueNameOf(fn, options.env)}'`);
    return listen(fn, options, minPollMs, waits);
  });

  return {
    async runNow(fn, input) {
      const text = input ?? '';
      await options
        .run(fn, {
          data: { string: text },
          triggerMetadata: { QueueTrigger: { string: text } },
          reason: HOST_API_REASON,
        })
        .catch(() => undefined);
    },
    async stop() {
      waits.stop();
      await Promise.all(loops);
    },
  };
}

/** The listeners' stop flag, and their back-off sleeps, which stopping cuts short. */
class PollWaits {
  private isStopped = false;
  private readonly wakers = new Set<() => void>();

  get stopped(): boolean {
    return this.isStopped;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  stop(): void {
    this.isStopped = true;
    for (const wake of [...this.wakers]) wake();
  }
}

/** One function's poll loop; resolves once stopped and its running messages are done. */
async function listen(
  fn: RegisteredFunction,
  options: QueuesOptions,
  minPollMs: number,
  waits: PollWaits,
): Promise<void> {
  const { settings, log } = options;
  const queue = queueClientFor(fn, options.env);
  const running = new Set<Promise<void>>();
  let delay = minPollMs;
  while (!waits.stopped) {
    // Like the WebJobs listener: fetch the next batch once no more than newBatchThreshold are running.
    if (running.size > settings.newBatchThreshold) {
      await Promise.race(running);
      continue;
    }
    let received: DequeuedMessageItem[] = [];
    try {
      const batch = await queue.receiveMessages({
        numberOfMessages: Math.min(32, settings.batchSize),
        visibilityTimeout: LEASE_SECONDS,
      });
      received = batch.receivedMessageItems;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 404) log(`Queue '${queue.name}': poll failed: ${messageOf(error)}`);
    }
    if (received.length === 0) {
      await (running.size > 0 ? Promise.race([waits.sleep(delay), ...running]) : waits.sleep(delay));
      delay = Math.min(delay * 2, settings.maxPollingIntervalMs);
      continue;
    }
    delay = minPollMs;
    for (const message of received) {
      const p: Promise<void> = processMessage(fn, queue, message, options)
        .catch((e: unknown) => log(`Queue '${queue.name}': ${messageOf(e)}`))
        .finally(() => running.delete(p));
      running.add(p);
    }
  }
  await Promise.all(running);
}

/** Runs the function on one message, then deletes it, lets it become visible again, or poisons it. */
async function processMessage(
  fn: RegisteredFunction,
  queue: QueueClient,
  m: DequeuedMessageItem,
  options: QueuesOptions,
): Promise<void> {
  const { settings, log } = options;
  const toPoison = (): Promise<void> => moveToPoison(fn, queue, m, options);
  if (m.dequeueCount > settings.maxDequeueCount) return toPoison();
  let text: string;
  try {
    text = decode(m.messageText, settings.messageEncoding);
  } catch (error) {
    // Like the queues extension (5.x): retrying cannot fix the encoding, so no retries.
    log(`Queue function '${fn.metadata.name}': ${messageOf(error)}`);
    return toPoison();
  }
  try {
    await options.run(fn, {
      data: { string: text },
      triggerMetadata: metadataOf(m, text),
      reason: `New queue message detected on '${queue.name}'.`,
    });
  } catch (error) {
    if (!(error instanceof Error && error.name === 'FunctionInvocationError')) {
      log(`Queue function '${fn.metadata.name}': ${messageOf(error)}`);
    }
    if (m.dequeueCount >= settings.maxDequeueCount) return toPoison();
    await queue.updateMessage(
      m.messageId,
      m.popReceipt,
      undefined,
      Math.ceil(settings.visibilityTimeoutMs / 1000),
    );
    return;
  }
  await queue.deleteMessage(m.messageId, m.popReceipt);
}

/** Copies a message to `<queue>-poison` and deletes it from its queue. */
async function moveToPoison(
  fn: RegisteredFunction,
  queue: QueueClient,
  m: DequeuedMessageItem,
  options: QueuesOptions,
): Promise<void> {
  const target = queueClientFor(fn, options.env, '-poison');
  await target.createIfNotExists();
  await target.sendMessage(m.messageText);
  await queue.deleteMessage(m.messageId, m.popReceipt);
  options.log(`Message ${m.messageId} moved to '${queue.name}-poison' after ${m.dequeueCount} attempts`);
}

/** The trigger metadata the queues extension binds (`QueueTrigger`, `DequeueCount`, `Id`, ...). */
function metadataOf(m: DequeuedMessageItem, text: string): InvocationInput['triggerMetadata'] {
  return {
    QueueTrigger: { string: text },
    DequeueCount: { json: String(m.dequeueCount) },
    Id: { string: m.messageId },
    PopReceipt: { string: m.popReceipt },
    InsertionTime: { json: JSON.stringify(m.insertedOn.toISOString()) },
    ExpirationTime: { json: JSON.stringify(m.expiresOn.toISOString()) },
    NextVisibleTime: { json: JSON.stringify(m.nextVisibleOn.toISOString()) },
  };
}

/**
 * Decodes like the queues extension (`Convert.FromBase64String`): white space is skipped, and what is left
 * must be whole groups of four base64 characters, `=` padding only at the end. Node's decoder would also
 * take text without its padding or in the URL alphabet, which Azure then moves to the poison queue.
 */
function decode(text: string, encoding: 'base64' | 'none'): string {
  if (encoding === 'none') return text;
  const compact = text.replace(/[ \t\r\n]/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw new Error('The input is not a valid Base-64 string (host.json messageEncoding is base64)');
  }
  return Buffer.from(compact, 'base64').toString('utf8');
}

/** The function's queue (or `<queue><suffix>`), on the storage its `connection` setting names. */
function queueClientFor(fn: RegisteredFunction, env: NodeJS.ProcessEnv, suffix = ''): QueueClient {
  const setting =
    typeof fn.trigger['connection'] === 'string' && fn.trigger['connection'] !== ''
      ? fn.trigger['connection']
      : 'AzureWebJobsStorage';
  const connection = env[setting];
  if (!connection)
    throw new Error(`Queue function '${fn.metadata.name}': app setting "${setting}" is not set`);
  return new QueueClient(connection, `${queueNameOf(fn, env).toLowerCase()}${suffix}`);
}

/** The trigger's `queueName` with its `%SETTING%` references resolved. */
function queueNameOf(fn: RegisteredFunction, env: NodeJS.ProcessEnv): string {
  return resolveSettings(bindingText(fn.trigger['queueName']), env);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
