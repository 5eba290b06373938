import type { HttpClient, PipelineResponse } from '@azure/core-rest-pipeline';

/** Longest one try of an Azure SDK request waits for an answer: far above any answer Azure gives the app's calls, so it only ends silences. */
export const DEFAULT_TRY_TIME_LIMIT_MS = 30_000;

/**
 * The transport of every Azure SDK client the app builds: the SDK's own HTTP client, giving each try of
 * a request at most `ms` to answer (status, headers and body; a streamed body is the caller's to read),
 * unless the request sets a limit of its own.
 * Why: the SDKs set none, so a dependency that accepts the connection and then says nothing holds the
 * request, and its socket, until the process ends. The callers that stop waiting sooner (the broker's
 * registry reads after 10 s, its audit writes and token calls after 30 s) would otherwise leave one
 * open socket behind per attempt for as long as the silence lasts. Past the limit the try is aborted,
 * closing its socket, and fails with an `AbortError` (before or during its body), which callers count
 * as transient.
 *
 * The limit is kept here, not handed to the SDK as `request.timeout`: the SDK's Node client clears its
 * timer only when an answer arrives, so every try that fails first (connection reset or refused, the
 * caller's abort) left a referenced timer behind for the rest of the limit. During an outage each one
 * held its request for 30 s, and it kept a process that had finished its work from exiting (the test
 * runs' "Jest did not exit"). This timer is cleared however the try ends.
 */
export function timeLimitedHttpClient(inner: HttpClient, ms: number): HttpClient {
  return {
    async sendRequest(request) {
      const callerSignal = request.abortSignal;
      const callerLimitMs = request.timeout;
      // Already given up: the SDK refuses it without a socket, so there is nothing to time.
      if (callerSignal?.aborted) return inner.sendRequest(request);
      const controller = new AbortController();
      const giveUp = (): void => controller.abort();
      const timer = setTimeout(giveUp, callerLimitMs > 0 ? callerLimitMs : ms);
      callerSignal?.addEventListener('abort', giveUp);
      request.abortSignal = controller.signal;
      request.timeout = 0;
      let response: PipelineResponse | undefined;
      try {
        response = await inner.sendRequest(request);
        return response;
      } catch (error) {
        // Aborted while its body was read, the SDK's Node client fails a try with a PARSE_ERROR, which
        // reads as a definite answer: it is the same give-up as one before the headers.
        if (controller.signal.aborted && (error as { name?: unknown } | null)?.name !== 'AbortError') {
          throw new DOMException('The try was aborted while its answer was read.', 'AbortError');
        }
        throw error;
      } finally {
        clearTimeout(timer);
        // The SDK sends the same request object again on a retry: each try gets the caller's settings.
        request.abortSignal = callerSignal;
        request.timeout = callerLimitMs;
        const stream = response?.readableStreamBody;
        const unlink = (): void => callerSignal?.removeEventListener('abort', giveUp);
        // The caller may still give up a streamed body it is reading: stay linked until the body closes.
        if (callerSignal && stream) stream.once('close', unlink);
        else unlink();
      }
    },
  };
}
