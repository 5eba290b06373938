import type { PipelineRequest } from '@azure/core-rest-pipeline';

import { sdk } from './sdk';

/** Something that sends a core-rest-pipeline request (an authenticated pipeline or an SDK client). */
export interface PipelineRequestSender<R extends { status: number }> {
  sendRequest(request: PipelineRequest): Promise<R>;
}

/**
 * Sends one JSON (or empty-bodied) request through `sender` and turns a non-2xx answer into a
 * `RestError`, so `withRetries` and the error classifiers can read its status.
 * @param service - named in the error message, e.g. `ARM`
 * @param abortSignal - cancels the request (a caller that gave it up)
 */
export async function sendPipelineRequest<R extends { status: number }>(
  sender: PipelineRequestSender<R>,
  service: string,
  method: 'GET' | 'POST',
  url: string,
  body?: string,
  abortSignal?: AbortSignal,
): Promise<R> {
  const { createHttpHeaders, createPipelineRequest, RestError } = sdk.corePipeline();
  const request = createPipelineRequest({
    url,
    method,
    headers: createHttpHeaders(
      body === undefined ? { 'content-length': '0' } : { 'content-type': 'application/json' },
    ),
    ...(body === undefined ? {} : { body }),
    abortSignal,
  });
  const response = await sender.sendRequest(request);
  if (response.status >= 400)
    throw new RestError(`${service} answered ${response.status}`, {
      statusCode: response.status,
      response: response as never,
      request,
    });
  return response;
}
