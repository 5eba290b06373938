import type { Clock } from '../clock';
import { ValidationError } from '../errors';
import type { Logger } from '../logging';
import { errorCode, safeMessage } from './errors';
import type { KeyRotator, RotationOutcome } from './KeyRotator';
import { ROTATION_REASONS, type RotationJob, type RotationReason } from './RotationJob';
import type { RotationJournal } from './RotationJournal';

/** Dependencies of {@link RotationJobHandler}. */
export interface RotationJobHandlerOptions {
  rotator: Pick<KeyRotator, 'run'>;
  journal: RotationJournal;
  clock: Clock;
  logger: Logger;
  /** host.json `extensions.queues.maxDequeueCount`. @default 5 */
  maxDequeueCount?: number;
}

/**
 * Turns one queue message into one rotation run. Failures are rethrown so the host retries the message
 * (visibility timeout, then again); on the last delivery the journal gets a `poison` record saying why,
 * because the host is about to move the message to `<queue>-poison` where nobody reads it by default.
 */
export class RotationJobHandler {
  constructor(private readonly options: RotationJobHandlerOptions) {}

  /**
   * @param message - the queue message as the host hands it over (parsed JSON object or text)
   * @param dequeueCount - `triggerMetadata.dequeueCount` (1 on the first delivery)
   */
  async handle(message: unknown, dequeueCount: number): Promise<RotationOutcome> {
    const job = parseRotationJob(message);
    try {
      return await this.options.rotator.run(job);
    } catch (error) {
      if (dequeueCount >= (this.options.maxDequeueCount ?? 5))
        await this.recordPoison(job, error, dequeueCount);
      throw error;
    }
  }

  private async recordPoison(job: RotationJob, error: unknown, dequeueCount: number): Promise<void> {
    const { journal, clock, logger } = this.options;
    const at = new Date(clock.now()).toISOString();
    const code = errorCode(error);
    const message = `Gave up after ${dequeueCount} deliveries; the job goes to the poison queue. Last error: ${safeMessage(error)}`;
    try {
      const { state } = await journal.getState(job.endpointId);
      const rotationId = state.active?.rotationId ?? state.lastError?.rotationId ?? 'none';
      await journal.saveState(job.endpointId, {
        ...state,
        lastOutcome: 'failed',
        lastOutcomeAt: at,
        lastError: { code, message, step: 'poison', at, ...(rotationId !== 'none' ? { rotationId } : {}) },
      });
      await journal.appendStep({
        endpointId: job.endpointId,
        rotationId,
        step: 'poison',
        at,
        detail: `${code} after ${dequeueCount} deliveries`,
      });
    } catch {
      // The journal may be what is failing; the log line below still tells the story.
    }
    logger.error('handle => job goes to poison queue', {
      endpointId: job.endpointId,
      reason: job.reason,
      code,
      dequeueCount,
    });
  }
}

/** Validates a queue message as a `RotationJob` (400-style `ValidationError` naming each bad field). */
export function parseRotationJob(message: unknown): RotationJob {
  let value = message;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new ValidationError([{ field: 'message', message: 'must be JSON' }]);
    }
  }
  const raw = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const issues = [];
  if (typeof raw.endpointId !== 'string' || raw.endpointId === '')
    issues.push({ field: 'endpointId', message: 'a registered endpoint id' });
  if (!ROTATION_REASONS.includes(raw.reason as RotationReason))
    issues.push({ field: 'reason', message: `one of ${ROTATION_REASONS.join(', ')}` });
  if (raw.urgent !== undefined && typeof raw.urgent !== 'boolean')
    issues.push({ field: 'urgent', message: 'true or false' });
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    endpointId: raw.endpointId as string,
    reason: raw.reason as RotationReason,
    ...(raw.urgent === true ? { urgent: true } : {}),
    requestedAt: typeof raw.requestedAt === 'string' ? raw.requestedAt : new Date(0).toISOString(),
  };
}
