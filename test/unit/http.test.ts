import { RestError } from '@azure/core-rest-pipeline';
import { HttpRequest, InvocationContext } from '@azure/functions';

import { TimeLimitError } from '../../shared/clock';
import {
  ConflictError,
  DependencyFailedError,
  DependencyUnavailableError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ValidationError,
} from '../../shared/errors';
import { withHttpErrors } from '../../shared/http';

/** Answers of a handler that throws `error`, through the one mapping every HTTP function uses. */
async function answerTo(
  error: unknown,
): Promise<{ status?: number; headers: Record<string, string>; body: unknown }> {
  const handler = withHttpErrors(async () => {
    throw error;
  });
  const response = await handler(
    new HttpRequest({ url: 'http://localhost/api/x', method: 'GET' }),
    new InvocationContext({ invocationId: 'inv-1', logHandler: () => undefined }),
  );
  return {
    ...(response.status !== undefined ? { status: response.status } : {}),
    headers: { ...(response.headers as Record<string, string>) },
    body: JSON.parse(response.body as string) as unknown,
  };
}

describe('Function: withHttpErrors', () => {
  it.each([
    ['a storage 503 the SDK gave up on', new RestError('Service Unavailable', { statusCode: 503 })],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a call with no answer in time', new TimeLimitError(30_000)],
  ])('answers %s with 503, Retry-After and problem details, not a 500', async (_what, error) => {
    // Act
    const answer = await answerTo(error);

    // Assess
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('5');
    expect(answer.body).toMatchObject({ status: 503, code: 'DependencyUnavailable', instance: 'inv-1' });
  });

  it('answers anything else unexpected with 500 and no detail', async () => {
    // Act
    const answer = await answerTo(new TypeError('x is undefined'));

    // Assess
    expect(answer.status).toBe(500);
    expect(answer.body).toMatchObject({
      status: 500,
      code: 'InternalError',
      detail: 'An unexpected error occurred.',
    });
  });

  it.each([
    [
      'an unavailable dependency',
      new DependencyUnavailableError('keyVault', 'keyVault is unavailable (getSecret echoed s3cret-value)'),
      503,
      'DependencyUnavailable',
    ],
    [
      'a dependency that refused',
      new DependencyFailedError('arm', 'arm refused the request (listKeys echoed s3cret-value)', 403),
      502,
      'DependencyFailed',
    ],
  ])(
    'answers %s with its status and code, and a generic detail instead of its message',
    async (_what, error, status, code) => {
      // Act
      const answer = await answerTo(error);

      // Assess: 5xx messages are only logged (shared/errors.ts)
      expect(answer.status).toBe(status);
      expect(answer.body).toMatchObject({
        status,
        code,
        detail: 'A service this app depends on is not available. Try again later.',
        instance: 'inv-1',
      });
      expect(JSON.stringify(answer.body)).not.toContain('s3cret-value');
    },
  );

  it.each([
    [
      'an invalid field',
      new ValidationError([{ field: 'id', message: 'is required' }]),
      400,
      'Bad Request',
      'ValidationFailed',
    ],
    ['a missing record', new NotFoundError('No endpoint named x.'), 404, 'Not Found', 'NotFound'],
    ['a conflict', new ConflictError('A rotation is running.'), 409, 'Conflict', 'Conflict'],
    ['a body too large', new PayloadTooLargeError('Too big.'), 413, 'Payload Too Large', 'PayloadTooLarge'],
    ['a rate limit', new RateLimitedError('Slow down.', 3), 429, 'Too Many Requests', 'RateLimited'],
    [
      'an unavailable dependency',
      new DependencyUnavailableError('keyVault', 'down'),
      503,
      'Service Unavailable',
      'DependencyUnavailable',
    ],
    ['an unexpected error', new TypeError('x is undefined'), 500, 'Internal Server Error', 'InternalError'],
  ])(
    'titles %s with its status phrase (RFC 9457) and carries the machine-readable code in `code`',
    async (_what, error, status, title, code) => {
      // Act
      const answer = await answerTo(error);

      // Assess: `title` is the same for every problem of a status; clients match on `code`
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(answer.body).toMatchObject({ type: 'about:blank', title, status, code, instance: 'inv-1' });
    },
  );
});
