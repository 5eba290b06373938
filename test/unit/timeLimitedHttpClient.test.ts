import { PassThrough } from 'node:stream';

import {
  createHttpHeaders,
  createPipelineRequest,
  type HttpClient,
  type PipelineRequest,
  type PipelineRequestOptions,
  type PipelineResponse,
  RestError,
} from '@azure/core-rest-pipeline';

import { isTransientError } from '../../shared/retry';
import { timeLimitedHttpClient } from '../../shared/timeLimitedHttpClient';

/** What the inner client saw of one try. */
interface SeenTry {
  readonly request: PipelineRequest;
  readonly timeout: number;
  readonly signal: PipelineRequest['abortSignal'];
}

/**
 * A stand-in for the SDK's Node client: it never answers on its own, and fails a try once the try's
 * signal fires, with what the SDK throws then (`failWith`). `answer` answers the pending try.
 */
function silentInner(failWith: () => Error = () => abortError()): {
  client: HttpClient;
  tries: SeenTry[];
  answer(response?: Partial<PipelineResponse>): void;
} {
  const tries: SeenTry[] = [];
  let answer: (response: Partial<PipelineResponse>) => void = () => undefined;
  const client: HttpClient = {
    sendRequest: (request) => {
      tries.push({ request, timeout: request.timeout, signal: request.abortSignal });
      return new Promise<PipelineResponse>((resolve, reject) => {
        request.abortSignal?.addEventListener('abort', () => reject(failWith()));
        answer = (response) => resolve({ status: 200, headers: createHttpHeaders(), request, ...response });
      });
    },
  };
  return { client, tries, answer: (response = {}) => answer(response) };
}

const abortError = (): Error =>
  Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });

/** One try of a request to a stand-in dependency, with what it threw instead of a rejection. */
const sendCaught = (client: HttpClient, options: Partial<PipelineRequestOptions> = {}): Promise<unknown> =>
  client
    .sendRequest(createPipelineRequest({ url: 'https://dependency/x', ...options }))
    .catch((e: unknown) => e);

describe('Function: timeLimitedHttpClient', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('aborts a try that has not answered within the limit, with an error callers count as transient', async () => {
    // Prepare
    jest.useFakeTimers();
    const inner = silentInner();
    const client = timeLimitedHttpClient(inner.client, 1000);

    // Act
    const failed = sendCaught(client);
    jest.advanceTimersByTime(999);
    const abortedEarly = inner.tries[0]?.signal?.aborted;
    jest.advanceTimersByTime(1);
    const error = await failed;

    // Assess
    expect(abortedEarly).toBe(false);
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(isTransientError(error)).toBe(true);
  });

  it('leaves no timer behind when a try fails before the limit (a reset connection)', async () => {
    // Prepare: the SDK's own `request.timeout` timer stayed armed for the rest of the limit
    jest.useFakeTimers();
    const reset = new RestError('read ECONNRESET', { code: 'ECONNRESET' });
    const client = timeLimitedHttpClient({ sendRequest: () => Promise.reject(reset) }, 30_000);

    // Act
    const error = await sendCaught(client);

    // Assess
    expect(error).toBe(reset);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps the time limit itself instead of handing it to the SDK, which leaves it armed after a failed try', async () => {
    // Prepare
    jest.useFakeTimers();
    const inner = silentInner();
    const client = timeLimitedHttpClient(inner.client, 1000);

    // Act
    const failed = sendCaught(client);
    jest.advanceTimersByTime(1000);
    await failed;

    // Assess
    expect(inner.tries.map((t) => t.timeout)).toEqual([0]);
  });

  it('gives a request that sets a limit of its own that limit, and hands the request back as the caller built it', async () => {
    // Prepare: the SDK sends the same request object again on a retry
    jest.useFakeTimers();
    const inner = silentInner();
    const client = timeLimitedHttpClient(inner.client, 30_000);
    const caller = new AbortController();
    const request = createPipelineRequest({
      url: 'https://dependency/x',
      timeout: 200,
      abortSignal: caller.signal,
    });

    // Act
    const failed = client.sendRequest(request).catch((e: unknown) => e);
    jest.advanceTimersByTime(200);
    const error = await failed;

    // Assess
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(caller.signal.aborted).toBe(false);
    expect(request.timeout).toBe(200);
    expect(request.abortSignal).toBe(caller.signal);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("ends the try as soon as the caller gives it up, and clears the limit's timer", async () => {
    // Prepare
    jest.useFakeTimers();
    const inner = silentInner();
    const client = timeLimitedHttpClient(inner.client, 30_000);
    const caller = new AbortController();

    // Act
    const failed = sendCaught(client, { abortSignal: caller.signal });
    caller.abort();
    const error = await failed;

    // Assess
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('fails a try aborted while its body was read with an AbortError, not the SDK’s PARSE_ERROR', async () => {
    // Prepare: the SDK's Node client reports a body cut by the abort as a response it could not parse
    jest.useFakeTimers();
    const inner = silentInner(
      () => new RestError('Error reading response as text: aborted', { code: RestError.PARSE_ERROR }),
    );
    const client = timeLimitedHttpClient(inner.client, 1000);

    // Act
    const failed = sendCaught(client);
    jest.advanceTimersByTime(1000);
    const error = await failed;

    // Assess
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(isTransientError(error)).toBe(true);
  });

  it('passes on an answer, and keeps a streamed body abortable by the caller until it closes', async () => {
    // Prepare
    jest.useFakeTimers();
    const inner = silentInner();
    const client = timeLimitedHttpClient(inner.client, 1000);
    const caller = new AbortController();
    const body = new PassThrough();

    // Act
    const answered = client.sendRequest(
      createPipelineRequest({ url: 'https://dependency/x', abortSignal: caller.signal }),
    );
    inner.answer({ status: 200, readableStreamBody: body });
    const response = await answered;
    jest.advanceTimersByTime(5000);
    const abortedByTheLimit = inner.tries[0]?.signal?.aborted;
    caller.abort();
    const abortedByTheCaller = inner.tries[0]?.signal?.aborted;

    // Assess
    expect(response.status).toBe(200);
    expect(abortedByTheLimit).toBe(false);
    expect(abortedByTheCaller).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  });
});
