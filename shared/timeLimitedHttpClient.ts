import type { HttpClient } from '@azure/core-rest-pipeline';

/** Longest one try of an Azure SDK request waits for an answer: far above any answer Azure gives the app's calls, so it only ends silences. */
export const DEFAULT_TRY_TIME_LIMIT_MS = 30_000;

/**
 * The transport of every Azure SDK client the app builds: the SDK's own HTTP client, giving each try of
 * a request at most `ms` to answer (status and headers), unless the request sets a limit of its own.
 * Why: the SDKs set none, so a dependency that accepts the connection and then says nothing holds the
 * request, and its socket, until the process ends. The callers that stop waiting sooner (the broker's
 * registry reads after 10 s, its audit writes and token calls after 30 s) would otherwise leave one
 * open socket behind per attempt for as long as the silence lasts. Past the limit the SDK aborts the
 * try, closing its socket, and fails it with an `AbortError`, which callers count as transient.
 */
export function timeLimitedHttpClient(inner: HttpClient, ms: number): HttpClient {
  return {
    sendRequest(request) {
      if (!(request.timeout > 0)) request.timeout = ms;
      return inner.sendRequest(request);
    },
  };
}
