import { STATUS_CODES } from 'node:http';

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

import { AppError, PayloadTooLargeError, ValidationError } from './errors';
import { isObject } from './isObject';
import { contextSink, createLogger } from './logging';
import { errorName } from './networkErrors';
import { isTransientError } from './retry';

/**
 * The HTTP edge: domain errors become responses here and nowhere else. Client errors (4xx)
 * carry their safe message as RFC 9457 problem details; anything else is a generic 500 whose original
 * is logged with the invocation id, so no stack trace or dependency detail reaches a caller.
 */

/** An error that knows its own wire format (for example RFC 6749 error bodies on OAuth routes). */
export interface HttpRenderableError {
  toHttpResponse(): HttpResponseInit;
}

function isRenderable(error: unknown): error is HttpRenderableError {
  return typeof (error as Partial<HttpRenderableError> | null)?.toHttpResponse === 'function';
}

/** Default cap on request bodies the app reads. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** What a client is told when a dependency failed: never the dependency's own message. */
const DEPENDENCY_UNAVAILABLE = 'A service this app depends on is not available. Try again later.';

/**
 * Maps any thrown value to a response. Renderable errors render themselves, `AppError`s become problem
 * details with their status, everything else a generic 500.
 */
export function errorToResponse(error: unknown, context: InvocationContext): HttpResponseInit {
  if (isRenderable(error)) return error.toHttpResponse();
  const log = createLogger('Http', contextSink(context));
  if (error instanceof AppError && error.expose) {
    return problem(error.status, error.code, error.message, context.invocationId, {
      ...(error.issues ? { errors: error.issues } : {}),
      retryAfterSeconds: error.retryAfterSeconds,
    });
  }
  if (error instanceof AppError) {
    log.warn(`request => failed`, { code: error.code, status: error.status, error: error.message });
    return problem(error.status, error.code, DEPENDENCY_UNAVAILABLE, context.invocationId, {
      retryAfterSeconds: error.retryAfterSeconds,
    });
  }
  // A raw SDK failure that passes (a 503 from storage, a reset connection, no answer in time): 503 too.
  if (isTransientError(error)) {
    log.warn('request => dependency unavailable', { error: errorName(error) });
    return problem(503, 'DependencyUnavailable', DEPENDENCY_UNAVAILABLE, context.invocationId, {
      retryAfterSeconds: 5,
    });
  }
  log.error('request => unexpected error', {
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  return problem(500, 'InternalError', 'An unexpected error occurred.', context.invocationId, {});
}

/**
 * Builds an `application/problem+json` response (RFC 9457). With `type` `about:blank`, `title` is the
 * status phrase (`Bad Request`), the same for every problem of that status as the RFC asks; the stable,
 * machine-readable error is the `code` extension member, which clients match on.
 */
export function problem(
  status: number,
  code: string,
  detail: string,
  instance: string,
  extra: { errors?: unknown; retryAfterSeconds?: number | undefined },
): HttpResponseInit {
  const headers: Record<string, string> = {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
  };
  if (extra.retryAfterSeconds !== undefined)
    headers['retry-after'] = String(Math.ceil(extra.retryAfterSeconds));
  return {
    status,
    headers,
    body: JSON.stringify({
      type: 'about:blank',
      title: STATUS_CODES[status] ?? 'Error',
      status,
      detail,
      code,
      instance,
      ...(extra.errors ? { errors: extra.errors } : {}),
    }),
  };
}

/** A Functions HTTP handler. */
export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * Wraps a handler so every error it throws goes through `errorToResponse`.
 * @example app.http('x', { handler: withHttpErrors(async (req, ctx) => ({ jsonBody: {} })) })
 */
export function withHttpErrors(handler: HttpHandler): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (error) {
      return errorToResponse(error, context);
    }
  };
}

const UTF8 = new TextDecoder('utf-8', { fatal: false });
/** JSON must be UTF-8 (RFC 8259 §8.1): a JSON body that is not is refused rather than altered. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads the request body as text, refusing bodies above `maxBytes` (413): from the declared length
 * before reading, and while reading for bodies that do not declare one.
 * @param maxBytes - cap in bytes
 * @default maxBytes DEFAULT_MAX_BODY_BYTES
 * @param decoder - lenient by default (bad bytes become U+FFFD); a fatal one throws `ERR_ENCODING_INVALID_ENCODED_DATA`
 */
export async function readBodyText(
  request: HttpRequest,
  maxBytes = DEFAULT_MAX_BODY_BYTES,
  decoder: { decode(bytes?: Uint8Array): string } = UTF8,
): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > maxBytes) throw new PayloadTooLargeError(`Request body must be at most ${maxBytes} bytes.`);
  if (!request.body) return '';
  // The stream's own reader, not arrayBuffer(): undici's whole-body helpers cost about as much again
  // per token request (profiled with `npm run bench -- http --profile`), and the cap applies mid-read.
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Once the declared length has arrived, the read that would only report "done" is skipped.
  const expected = Number.isFinite(declared) && declared > 0 ? declared : Infinity;
  while (size < expected) {
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done || !value) break;
    size += value.byteLength;
    if (size > maxBytes) {
      void reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(`Request body must be at most ${maxBytes} bytes.`);
    }
    chunks.push(value);
  }
  return decoder.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
}

/** Reads and parses a JSON object body; 400 naming `body` when it is not UTF-8 or not a JSON object. */
export async function readJsonObject(
  request: HttpRequest,
  maxBytes = DEFAULT_MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readBodyText(request, maxBytes, STRICT_UTF8);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ERR_ENCODING_INVALID_ENCODED_DATA') throw error;
    throw new ValidationError([{ field: 'body', message: 'must be UTF-8' }]);
  }
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    throw new ValidationError([{ field: 'body', message: 'must be valid JSON' }]);
  }
  if (!isObject(parsed)) throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  return parsed;
}
