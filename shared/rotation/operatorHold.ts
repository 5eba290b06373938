/**
 * Failures that wait for a person rather than for a retry, and how long the timer leaves an endpoint
 * whose last run failed so.
 */

import { HOUR_MS } from '../endpoints/ManagedEndpoint';
import { V1_RULES } from '../v1/v1Rules';
import { UNSAFE_REGENERATION } from './errors';
import type { RotationState } from './RotationJournal';

/**
 * Codes of failures that no retry can fix: a person has to act (operations.md gives each remedy), then
 * `POST …/rotate`. The queue does not redeliver them and the timer tries them again only once
 * {@link OPERATOR_REMINDER_MS} has passed, so one drifted endpoint raises one alert a day, not twenty an hour.
 */
const OPERATOR_ACTION_CODES: ReadonlySet<string> = new Set([
  'DRIFT_DETECTED',
  UNSAFE_REGENERATION,
  'AUTH_MODE_NOT_KEY',
  'ENDPOINT_KIND_UNSUPPORTED',
  // A deleted secret keeps its name in Key Vault until a person recovers or purges it.
  'SECRET_DELETED',
  // A v1 service whose auth settings forbid key rotation: it stays so until a person redeploys or re-registers it.
  V1_RULES.keyAuthDisabled.code,
  V1_RULES.keyAndTokenExclusive.code,
  V1_RULES.computeTypeMismatch.code,
]);

/**
 * Codes the queue still redelivers (each delivery tests the key again), but after which the timer, too,
 * waits {@link OPERATOR_REMINDER_MS}: a key the scoring deployment refused for the whole test window gets
 * only a 30-s last try from the timer's jobs, which a deployment that needs mending refuses as well, and
 * every tick then raised another `RotationFailed` (96 a day). The endpoint is safe meanwhile: Key Vault
 * still holds the key in use. `POST …/rotate` after the fix tests for a whole window at once.
 */
const TIMER_HOLD_ONLY_CODES: ReadonlySet<string> = new Set(['NEW_KEY_NOT_ACCEPTED']);

/** How long the timer leaves a failure only a person can fix before it runs (and reports) it again. */
const OPERATOR_REMINDER_MS = 24 * HOUR_MS;

/** Whether a failure with this code waits for a person rather than for a retry. */
export function needsOperator(code: string): boolean {
  return OPERATOR_ACTION_CODES.has(code);
}

/**
 * When the timer takes up again an endpoint whose last run failed in a way only a person can fix, or
 * undefined when it is not waiting: every tick until then would fail and alert again. The fix ends with
 * `POST …/rotate`, which the timer does not wait for; drift fixed by hand also ends the wait once a drift
 * check (the new version's event) finds the keys in sync. The status API shows it.
 */
export function operatorHoldEndsAt(state: RotationState): number | undefined {
  const failure = state.lastError;
  if (state.lastOutcome !== 'failed' || failure === undefined) return undefined;
  if (!needsOperator(failure.code) && !TIMER_HOLD_ONLY_CODES.has(failure.code)) return undefined;
  if (failure.code === 'DRIFT_DETECTED' && state.drift?.detected === false) return undefined;
  const at = Date.parse(failure.at);
  return Number.isNaN(at) ? undefined : at + OPERATOR_REMINDER_MS;
}
