import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** One parsed request as every stand-in sees it (body already read). */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly url: URL;
  /** Decoded path segments, without empty ones (a trailing slash is kept in {@link trailingSlash}). */
  readonly segments: readonly string[];
  readonly trailingSlash: boolean;
  /** Query; `api%2Dversion` arrives decoded as `api-version`. */
  readonly query: URLSearchParams;
  readonly bodyText: string;
  /** ms since epoch when the request arrived. */
  readonly now: number;
}

/** What a handler resolved: the counter name and the work to do. */
export interface Route {
  /** Counter name, e.g. `arm.listKeys`. */
  readonly operation: string;
  /** Narrows fault injection (the region of a model-management call): `setFault(service, fault, scope)`. */
  readonly faultScope?: string;
  run(ctx: RequestContext): void | Promise<void>;
}

/** Largest request body accepted (Key Vault secrets are at most 25 KB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A request the stand-ins cannot read (answered 400, or 413 for {@link tooLarge}), not a stand-in bug. */
export class UnreadableRequestError extends Error {
  constructor(
    message: string,
    readonly tooLarge = false,
  ) {
    super(message);
    this.name = 'UnreadableRequestError';
  }
}

/**
 * Reads the whole body as text, up to {@link MAX_BODY_BYTES}; a longer body is read to its end and
 * discarded (so the client, still sending, receives the 413) and throws {@link UnreadableRequestError}.
 */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  if (size > MAX_BODY_BYTES)
    throw new UnreadableRequestError(`The request body is larger than ${MAX_BODY_BYTES} bytes.`, true);
  return Buffer.concat(chunks).toString('utf8');
}

/** Answers JSON (or a bare status when body is undefined). */
export function send(
  ctx: RequestContext,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  contentType = 'application/json; charset=utf-8',
): void {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const all: Record<string, string> = {
    'cache-control': 'no-cache',
    'x-ms-request-id': randomUUID(),
    ...(text ? { 'content-type': contentType } : {}),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  };
  ctx.res.writeHead(status, all);
  ctx.res.end(text);
}

/** Parses the body as a JSON object; undefined for an empty body; throws SyntaxError/TypeError otherwise. */
export function jsonBody(ctx: RequestContext): Record<string, unknown> | undefined {
  if (ctx.bodyText.trim() === '') return undefined;
  const value: unknown = JSON.parse(ctx.bodyText);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TypeError('body must be a JSON object');
  return value as Record<string, unknown>;
}

/** The body as a JSON object; undefined when it is empty or anything else (for callers that refuse both alike). */
export function jsonBodyOrUndefined(ctx: RequestContext): Record<string, unknown> | undefined {
  try {
    return jsonBody(ctx);
  } catch {
    return undefined;
  }
}

/** The bearer credential of the request, if any. */
export function bearer(ctx: Pick<RequestContext, 'req'>): string | undefined {
  const header = ctx.req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}

/** A string-to-string record from an unknown value (tags); undefined when not one. */
export function stringRecord(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') return undefined;
    out[k] = v;
  }
  return out;
}

/** Epoch seconds of a ms timestamp. */
export function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/**
 * The body of a regenerateKeys call, `{ keyType, keyValue? }`, shared by the ARM and v1 stand-ins;
 * undefined when it is malformed (each service answers that with its own error shape).
 */
export function regenerateBody(
  ctx: RequestContext,
): { slot: 'Primary' | 'Secondary'; keyValue?: string } | undefined {
  const body = jsonBodyOrUndefined(ctx);
  const keyType = body?.keyType;
  const keyValue = body?.keyValue;
  if (keyType !== 'Primary' && keyType !== 'Secondary') return undefined;
  if (keyValue === undefined || keyValue === null) return { slot: keyType };
  return typeof keyValue === 'string' && keyValue !== '' ? { slot: keyType, keyValue } : undefined;
}
