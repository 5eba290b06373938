import { RestError } from '@azure/core-rest-pipeline';

import { realSleep } from '../../shared/clock';
import { DependencyFailedError, DependencyUnavailableError } from '../../shared/errors';
import { isTransientError, retryAfterMs, withRetries } from '../../shared/retry';
import { signalRecordingSleep } from '../fakes/sleeps';
import { timersLeftBy } from '../support/pendingTimers';
import { settle } from '../support/waitFor';

function restError(statusCode: number, headers: Record<string, string> = {}): RestError {
  return new RestError(`HTTP ${statusCode}`, {
    statusCode,
    response: { headers: { get: (n: string) => headers[n.toLowerCase()] } } as never,
  });
}

/** An operation that always throws `error`, and how often it was called. */
function alwaysFailing(error: Error): { op: () => Promise<never>; calls: () => number } {
  let calls = 0;
  return {
    op: async () => {
      calls += 1;
      throw error;
    },
    calls: () => calls,
  };
}

describe('Function: withRetries', () => {
  it('retries 429 honouring Retry-After, then succeeds', async () => {
    // Prepare
    const waits: number[] = [];
    let calls = 0;
    const op = async () => {
      calls += 1;
      if (calls < 3) throw restError(429, { 'retry-after': '7' });
      return 'ok';
    };

    // Act
    const result = await withRetries(op, { dependency: 'arm', sleep: async (ms) => void waits.push(ms) });

    // Assess
    expect(result).toBe('ok');
    expect(waits).toEqual([7000, 7000]);
  });

  it('gives up after the bounded attempts with DependencyUnavailableError carrying the retry hint', async () => {
    // Prepare
    const failing = alwaysFailing(restError(503, { 'retry-after': '2' }));

    // Act
    const promise = withRetries(failing.op, {
      dependency: 'keyVault',
      sleep: async () => undefined,
      attempts: 4,
    });

    // Assess
    await expect(promise).rejects.toThrow(DependencyUnavailableError);
    await expect(promise).rejects.toMatchObject({ retryAfterSeconds: 2, dependency: 'keyVault' });
    expect(failing.calls()).toBe(4);
  });

  it('does not wait longer than maxDelayMs: a long Retry-After goes back to the queue', async () => {
    const failing = alwaysFailing(restError(429, { 'retry-after': '3600' }));
    const promise = withRetries(failing.op, { dependency: 'arm', sleep: async () => undefined });
    await expect(promise).rejects.toMatchObject({ retryAfterSeconds: 3600 });
    expect(failing.calls()).toBe(1);
  });

  it('does not retry a definite answer and maps it to DependencyFailedError with the status', async () => {
    const failing = alwaysFailing(restError(403));
    const promise = withRetries(failing.op, { dependency: 'arm', sleep: async () => undefined });
    await expect(promise).rejects.toThrow(DependencyFailedError);
    await expect(promise).rejects.toMatchObject({ dependencyStatus: 403 });
    expect(failing.calls()).toBe(1);
  });

  it('ends its pause as soon as the caller gives the call up, with the reason, and tries no more', async () => {
    // Prepare: ARM asks for the longest pause honoured; a fake sleep that never ends on its own (a real
    // one ends with the signal) and records the signal it was handed, so that it can clear its timer
    const failing = alwaysFailing(restError(429, { 'retry-after': '60' }));
    const { sleep, given } = signalRecordingSleep();
    const controller = new AbortController();
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    const outcome = withRetries(failing.op, {
      dependency: 'arm',
      sleep,
      abortSignal: controller.signal,
    }).catch((error: unknown) => error);
    await settle();

    // Act
    controller.abort(reason);

    // Assess: the run's own AbortError, as a call the signal reached fails with; no call after the abort
    expect(await Promise.race([outcome, settle().then(() => 'still pausing')])).toBe(reason);
    expect(given).toEqual([controller.signal]);
    expect(failing.calls()).toBe(1);
  });

  it('leaves no timer behind when the caller gives the call up during a real pause', async () => {
    // Prepare
    const failing = alwaysFailing(restError(503, { 'retry-after': '60' }));
    const controller = new AbortController();
    let outcome: unknown;

    // Act
    const left = await timersLeftBy(async () => {
      const call = withRetries(failing.op, {
        dependency: 'keyVault',
        sleep: realSleep,
        abortSignal: controller.signal,
      }).catch((error: unknown) => (error as Error).name);
      await settle();
      controller.abort();
      outcome = await call;
    });

    // Assess
    expect(outcome).toBe('AbortError');
    expect(left).toEqual([]);
    expect(failing.calls()).toBe(1);
  });

  it.each<[string, unknown, boolean]>([
    ['503', 'status:503', true],
    ['429', 'status:429', true],
    ['408', 'status:408', true],
    ['501 (the service will not do it)', 'status:501', false],
    ['404', 'status:404', false],
    ['a timed-out call', Object.assign(new Error('t'), { name: 'TimeoutError' }), true],
    ['an aborted call', Object.assign(new Error('a'), { name: 'AbortError' }), true],
    ['our DependencyUnavailableError', new DependencyUnavailableError('arm', 'down'), true],
    ['our DependencyFailedError (a definite answer)', new DependencyFailedError('arm', 'no', 403), false],
    ['nothing thrown', undefined, false],
  ])('decides whether %s is worth another try', (_name, thrown, transient) => {
    const error =
      typeof thrown === 'string' && thrown.startsWith('status:')
        ? restError(Number(thrown.slice(7)))
        : thrown;
    expect(isTransientError(error)).toBe(transient);
  });

  it('classifies network errors as transient and reads HTTP-date Retry-After', () => {
    expect(isTransientError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isTransientError(restError(404))).toBe(false);
    expect(retryAfterMs(restError(429, { 'retry-after': new Date(61_000).toUTCString() }), 1000)).toBe(
      60_000,
    );
  });
});
