import { AppError, DependencyUnavailableError, type FieldIssue } from '../errors';

/**
 * An Event Grid / CloudEvents delivery that cannot be understood (not JSON, missing id/type/data, wrong
 * field types). Rendered as 400, which Event Grid never retries: the delivery goes to the dead-letter
 * destination, where a human can look at it, instead of being retried for 24 hours.
 */
export class MalformedEventError extends AppError {
  readonly code = 'MalformedEvent';
  readonly status = 400;
  constructor(
    override readonly issues: FieldIssue[],
    options?: ErrorOptions,
  ) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '), options);
  }
}

/**
 * An Event Grid delivery whose events did not all finish within the webhook's time budget
 * (`EventWebhook`): answered 503 with `Retry-After` before Event Grid stops listening (30 s), so Event Grid
 * delivers it again, rather than answered late and delivered again while it still runs. The events done
 * before are remembered (the redelivery skips them); the one cut had its calls given up.
 */
export class EventDeliveryOutOfTimeError extends DependencyUnavailableError {
  override readonly code: string = 'EVENT_DELIVERY_OUT_OF_TIME';
  constructor(
    readonly budgetMs: number,
    readonly done: number,
    readonly events: number,
    options?: ErrorOptions,
  ) {
    super(
      'events',
      `The delivery used up its ${budgetMs / 1000} s with ${done} of its ${events} events done; Event Grid delivers it again.`,
      options,
    );
  }
}
