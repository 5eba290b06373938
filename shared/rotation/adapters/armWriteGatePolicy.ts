import type { PipelinePolicy, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';

import { type Clock, systemClock } from '../../clock';
import { retryAfterMs } from '../../retry';
import type { ArmWriteGate, WriteAnswer } from '../ArmWriteGate';
import { ArmThrottledError } from '../errors';

/** ARM counts these as writes (POST actions such as listKeys included); DELETE has its own bucket. */
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Options of {@link armWriteGatePolicy}. */
export interface ArmWriteGatePolicyOptions {
  /** @default systemClock */
  clock?: Clock;
  /**
   * Longest one write (all its SDK retries included) waits at the gate before it fails with
   * `ArmThrottledError`. Well below the default rotation lease (600 s), so a waiting rotation keeps it; with a
   * lease shorter than this, a run waiting here can lose its lease to a run that resumes from the journal.
   * A request with a time limit of its own (`timeout`, set before the gate) waits at most that long.
   * @default 60000
   */
  maxWaitMs?: number;
}

/** The write bucket a request draws from: ARM meters per subscription (and principal: one per process). */
function bucketOf(url: string): string {
  const match = /\/subscriptions\/([^/?]+)/i.exec(url);
  return match?.[1] ? decodeURIComponent(match[1]).toLowerCase() : 'tenant';
}

function answerOf(response: PipelineResponse): WriteAnswer {
  const header = response.headers.get('x-ms-ratelimit-remaining-subscription-writes');
  const remaining = header === undefined ? Number.NaN : Number(header);
  return {
    // At least a second, as when ARM names no wait: a `Retry-After: 0` (or a past date) would resend at once.
    ...(response.status === 429 ? { retryAfterMs: Math.max(retryAfterMs({ response }) ?? 0, 1000) } : {}),
    ...(Number.isFinite(remaining) ? { remaining } : {}),
  };
}

/**
 * Puts every ARM write of an SDK client through the process's {@link ArmWriteGate}. Added `perRetry`
 * (after the SDK's retry policy), so the SDK's own retries queue at the gate too. A 429 is not handed
 * up: it closes the gate and the same request is sent again once it reopens — sending before
 * `Retry-After` is useless, and this way throttling does not use up the bounded retries of the SDK
 * (3) and of `withRetries` (3). Waiting is bounded per request instead: past `maxWaitMs` the write fails
 * with `ArmThrottledError` (a `DependencyUnavailableError`, which no retry layer repeats). A request
 * whose abort signal fires while it waits (the broker's cache gave the call up) leaves the gate at once.
 * @example new AzureMachineLearningWorkspaces(cred, sub, { additionalPolicies: [{ policy: armWriteGatePolicy(gate), position: 'perRetry' }] })
 */
export function armWriteGatePolicy(
  gate: ArmWriteGate,
  options: ArmWriteGatePolicyOptions = {},
): PipelinePolicy {
  const clock = options.clock ?? systemClock;
  const maxWaitMs = options.maxWaitMs ?? 60_000;
  // The SDK retries by sending the same request object again: its deadline survives the retries.
  const deadlines = new WeakMap<PipelineRequest, number>();
  return {
    name: 'armWriteGatePolicy',
    async sendRequest(request, next) {
      if (!WRITE_METHODS.has(request.method.toUpperCase())) return next(request);
      const bucket = bucketOf(request.url);
      // A request with a time limit of its own (the broker's token calls: the cache's) waits no longer.
      const waitMs = request.timeout > 0 ? Math.min(maxWaitMs, request.timeout) : maxWaitMs;
      const deadline = deadlines.get(request) ?? clock.now() + waitMs;
      deadlines.set(request, deadline);
      for (;;) {
        if (!(await gate.acquire(bucket, deadline, request.abortSignal)))
          throw new ArmThrottledError(Math.max(1000, gate.closedForMs(bucket)) / 1000);
        let response: PipelineResponse;
        try {
          response = await next(request);
        } catch (error) {
          gate.release(bucket);
          throw error;
        }
        gate.release(bucket, answerOf(response));
        if (response.status !== 429) return response;
      }
    },
  };
}
