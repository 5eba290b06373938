import { AppError, type FieldIssue } from '../errors';

/**
 * An Event Grid / CloudEvents delivery that cannot be understood (not JSON, missing id/type/data, wrong
 * field types). Rendered as 400, which Event Grid never retries: the delivery goes to the dead-letter
 * destination, where a human can look at it, instead of being retried for 24 hours.
 */
export class MalformedEventError extends AppError {
  readonly code = 'MalformedEvent';
  readonly status = 400;
  constructor(
    readonly issues: FieldIssue[],
    options?: ErrorOptions,
  ) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '), options);
  }
}
