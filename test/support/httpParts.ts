import type { HttpResponseInit } from '@azure/functions';

/**
 * An `Authorization: Basic` value as RFC 6749 §2.3.1 builds it: id and secret form-encoded, then base64.
 * (Broker ids and secrets need no encoding, so this is also what a client that skips the step sends.)
 */
export const basicAuth = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** The JSON object a protocol handler answered with. */
export const jsonOf = (response: HttpResponseInit): Record<string, unknown> =>
  JSON.parse(response.body as string) as Record<string, unknown>;

/** The JSON object an admin handler answered with: its `jsonBody`, or its `body` parsed when sent as text. */
export const bodyOf = (response: HttpResponseInit): Record<string, unknown> =>
  (response.jsonBody ?? JSON.parse(response.body as string)) as Record<string, unknown>;
