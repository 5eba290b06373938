import { ValidationError } from './errors';
import { isObject } from './isObject';
import type { Logger } from './logging';

/**
 * host.json `extensions.queues.maxDequeueCount`: the delivery after which the host moves a failing message to
 * `<queue>-poison` (a unit test keeps the two equal).
 */
export const MAX_DEQUEUE_COUNT = 5;

/**
 * Which delivery of its queue message an invocation is (`triggerMetadata.dequeueCount`, 1 on the first);
 * 1 when the host did not say, so a handler never mistakes a missing count for its last delivery.
 */
export function dequeueCountOf(triggerMetadata: Readonly<Record<string, unknown>> | undefined): number {
  const count = Number(triggerMetadata?.['dequeueCount'] ?? 1);
  return Number.isFinite(count) ? count : 1;
}

/**
 * The delivered queue message's id (`triggerMetadata.id`); undefined when the host did not say. The id the
 * storage queue gave the message, it is what an operator matches a log line against: a copy moved to the
 * poison queue gets an id of its own.
 */
export function messageIdOf(
  triggerMetadata: Readonly<Record<string, unknown>> | undefined,
): string | undefined {
  const id = triggerMetadata?.['id'];
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * The fields of a queue message. The Functions host hands a JSON message over parsed, or as text when
 * it could not tell; either way the caller gets an object to validate field by field (empty when the
 * message is not a JSON object, so each missing field is named).
 */
export function queueMessageFields(message: unknown): Record<string, unknown> {
  let value = message;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new ValidationError([{ field: 'message', message: 'must be JSON' }]);
    }
  }
  return fieldsOf(value);
}

/** `value` as a record of fields; empty when it is not an object. */
export function fieldsOf(value: unknown): Record<string, unknown> {
  return isObject(value) ? value : {};
}

/**
 * The format version a queue message names in `v`; 1 when it names none, as every message this version
 * writes. A version that changes a message so that an older one would refuse it or misread it (a new
 * reason or event type, a field whose loss matters) writes a higher `v`, and a reader puts a message of a
 * format above its own back on the queue for an instance that reads it: during a rolling deployment both
 * versions take messages from one queue (docs/architecture.md, "Rolling deployments").
 */
export function formatOf(fields: Readonly<Record<string, unknown>>): number {
  return Number.isInteger(fields.v) && (fields.v as number) > 1 ? (fields.v as number) : 1;
}

/**
 * Where a queue message no delivery can handle goes: `<queue>-poison`, where the host itself moves a message
 * that failed `maxDequeueCount` times, so operators find every dead message in one place (port;
 * `StorageJsonQueue` is the Storage adapter).
 */
export interface PoisonQueue {
  /** The poison queue's name, for the log line. */
  readonly name: string;
  /**
   * Sends `text` as the message's content.
   * @returns the new message's id when the queue answers one (Storage does), for the log line
   */
  enqueueText(text: string): Promise<string | undefined>;
}

/** A malformed message moved to the poison queue: what a queue handler returns instead of throwing. */
export interface MalformedMessage {
  readonly status: 'malformed';
  /** The queue it went to. */
  readonly poisonQueue: string;
  /** The bad fields and what each must be (`ValidationError.message`), never their values. */
  readonly issues: string;
  /** The copy's id on the poison queue, when the queue answered one (the copy does not keep the delivered id). */
  readonly poisonMessageId?: string;
}

/**
 * What a queue function's own line says of a malformed message: where it went, why, and the ids that match
 * the delivered message with its copy on the poison queue (each only when known).
 */
export function malformedDetail(outcome: MalformedMessage, messageId: string | undefined): string {
  const ids =
    (messageId ? ` messageId=${messageId}` : '') +
    (outcome.poisonMessageId ? ` poisonMessageId=${outcome.poisonMessageId}` : '');
  return `moved to ${outcome.poisonQueue} (${outcome.issues})${ids}`;
}

/**
 * Moves a message that does not parse to the poison queue on its first delivery and logs why: every
 * delivery would fail the same way, and throwing would only run it `maxDequeueCount` times before the host
 * moved it there anyway. The copy holds the text as delivered (a parsed JSON message as JSON again). Only the
 * issues are logged, never a field's value: a hand-written message may hold anything. Throws when the poison
 * queue cannot be written, so the host delivers the message again (and moves it itself on the last delivery).
 * The line names the delivered message's id and its copy's: the copy gets a new id, and without both an
 * operator could match the two only by time.
 * @param what - what the message should have been, for the log line (`job`, `held event`)
 * @param out - `messageId`: the delivered message's (`triggerMetadata.id`), when the host said
 */
export async function moveToPoison(
  message: unknown,
  error: ValidationError,
  out: { poison: PoisonQueue; logger: Logger; what: string; dequeueCount: number; messageId?: string },
): Promise<MalformedMessage> {
  const { poison, logger, what, dequeueCount, messageId } = out;
  const poisonMessageId = await poison.enqueueText(
    typeof message === 'string' ? message : (JSON.stringify(message) ?? ''),
  );
  // The ids last, after the documented start of the line (`queue dequeueCount issues`), which alerts may match.
  logger.error(`handle => malformed ${what} moved to poison queue`, {
    queue: poison.name,
    dequeueCount,
    issues: error.message,
    messageId,
    poisonMessageId,
  });
  return {
    status: 'malformed',
    poisonQueue: poison.name,
    issues: error.message,
    ...(poisonMessageId ? { poisonMessageId } : {}),
  };
}
