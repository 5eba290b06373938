/**
 * Every error the app raises on purpose. Each has a stable `code` (safe to show and to alert on) and an
 * HTTP status; `shared/http.ts` maps them to responses in one place. Messages of 4xx errors are shown to
 * callers, so they must never contain key, token or secret material; 5xx messages are only logged.
 *
 * Two families are kept apart: `DependencyUnavailableError` means "not usable right now,
 * retry" and everything else means "the answer is no". Event and queue handlers decide retry vs
 * dead-letter from that alone.
 */

/** One invalid input field, named the way the caller spelled it. */
export interface FieldIssue {
  /** Field, setting or parameter name, e.g. `rotationPeriodHours` or `KEY_VAULT_URL`. */
  field: string;
  /** What is wrong and what is expected. Never echoes a secret value. */
  message: string;
}

/** Base class: stable code, HTTP status, optional retry hint and safe details. */
export abstract class AppError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  /** Seconds a caller should wait before retrying (sent as `Retry-After`). */
  readonly retryAfterSeconds?: number;
  /**
   * True for a "not now" that passes by itself (another run holds a lease, other writes kept winning a
   * race), though an API caller is answered its status (409) all the same. A caller that can try again
   * later on its own, such as the Event Grid webhook (503, so Event Grid delivers again), does so rather
   * than take it as a definite "no".
   */
  readonly temporary?: boolean;
  /**
   * The input fields the refusal names for the caller to correct, answered as the problem's `errors`: every
   * field of a `ValidationError`, and those of a refusal that is no validation (a 422 pointing at `arm.name`).
   */
  readonly issues?: FieldIssue[];

  constructor(message: string, options?: ErrorOptions & { retryAfterSeconds?: number }) {
    super(message, options);
    this.name = new.target.name;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** True when the message may be shown to the caller (client errors only). */
  get expose(): boolean {
    return this.status < 500;
  }
}

/** Input failed validation; `issues` names every bad field at once. */
export class ValidationError extends AppError {
  readonly code = 'ValidationFailed';
  readonly status = 400;
  constructor(
    override readonly issues: FieldIssue[],
    options?: ErrorOptions,
  ) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '), options);
  }
}

/** The settings the app started with are missing or malformed. Stops start-up. */
export class ConfigError extends AppError {
  readonly code = 'InvalidConfiguration';
  readonly status = 500;
  constructor(override readonly issues: FieldIssue[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n')}`);
  }
}

/** A named resource does not exist. */
export class NotFoundError extends AppError {
  readonly code: string = 'NotFound';
  readonly status = 404;
}

/** The request conflicts with the current state (already exists, precondition failed). */
export class ConflictError extends AppError {
  readonly code: string = 'Conflict';
  readonly status = 409;
}

/** The request body is larger than the route accepts. */
export class PayloadTooLargeError extends AppError {
  readonly code = 'PayloadTooLarge';
  readonly status = 413;
}

/** The caller is sending too fast, or is backing off after failures. */
export class RateLimitedError extends AppError {
  readonly code: string = 'RateLimited';
  readonly status = 429;
  constructor(message: string, retryAfterSeconds: number, options?: ErrorOptions) {
    super(message, { ...options, retryAfterSeconds });
  }
}

/**
 * A dependency (Key Vault, ARM, managed identity, storage, the scoring endpoint) cannot be used right
 * now: network failure, 5xx, 429, timeout. Retrying later is the right reaction.
 */
export class DependencyUnavailableError extends AppError {
  readonly code: string = 'DependencyUnavailable';
  readonly status = 503;
  constructor(
    readonly dependency: string,
    message: string,
    options?: ErrorOptions & { retryAfterSeconds?: number },
  ) {
    super(message, { retryAfterSeconds: 5, ...options });
  }
}

/** A dependency answered with a definite "no" (authorization, validation) that retrying will not fix. */
export class DependencyFailedError extends AppError {
  readonly code: string = 'DependencyFailed';
  readonly status = 502;
  constructor(
    readonly dependency: string,
    message: string,
    readonly dependencyStatus?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
