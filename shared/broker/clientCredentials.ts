import { InvalidClientError } from './errors';
import { formDecode } from './formUrlEncoded';

/** A client id and secret as presented, and how. */
export interface PresentedCredentials {
  readonly clientId: string;
  readonly secret: string;
  readonly method: 'basic' | 'post' | 'identityHeader';
}

const NOT_BASE64 = 'The Basic credentials are not base64.';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses `Authorization: Basic …` as RFC 6749 §2.3.1 defines it for OAuth clients: the client id and
 * secret are each form-urlencoded, joined by `:`, then base64-encoded. Undefined when the header is
 * absent or not Basic.
 *
 * A malformed Basic value is `InvalidClientError`, a failed authentication (401 with
 * `WWW-Authenticate: Basic`): the client did try to authenticate with the header, and RFC 6749 §5.2
 * answers that with 401 and the scheme it used. It is thrown before any client is looked up, so it
 * never counts towards the bad-secret backoff of an id the value may name: nothing in a malformed
 * value is a trustworthy client id, and refusing it costs less than the backoff's own check.
 * @param header - the `Authorization` header value
 * @throws InvalidClientError
 */
export function parseBasicAuthorization(header: string | null): PresentedCredentials | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  if (space < 0) {
    // The scheme alone (HTTP trims `Basic ` to `Basic`) is a Basic attempt without credentials.
    if (header.toLowerCase() === 'basic') throw new InvalidClientError('The Basic credentials are missing.');
    return undefined;
  }
  if (header.slice(0, space).toLowerCase() !== 'basic') return undefined;
  const encoded = header.slice(space + 1).trim();
  if (!BASE64.test(encoded)) throw new InvalidClientError(NOT_BASE64);
  const decoded = decodeBase64(encoded);
  if (decoded === undefined) throw new InvalidClientError(NOT_BASE64);
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new InvalidClientError('The Basic credentials have no colon between id and secret.');
  try {
    return {
      clientId: formDecode(decoded.slice(0, colon)),
      secret: formDecode(decoded.slice(colon + 1)),
      method: 'basic',
    };
  } catch (error) {
    throw new InvalidClientError('The Basic credentials are not form-urlencoded.', { cause: error });
  }
}

/** Non-ASCII (percent-encoding was skipped by the client): the bytes are then read as UTF-8. */
const NON_ASCII = /[\u0080-\u00ff]/;

/**
 * Base64 to text: `atob` (one native call returning the bytes as Latin-1 characters; `Buffer.from`
 * then `toString` is two, each costing microseconds when cold on the hot path), as UTF-8 when needed.
 */
function decodeBase64(encoded: string): string | undefined {
  let bytes: string;
  try {
    bytes = atob(encoded);
  } catch {
    return undefined;
  }
  return NON_ASCII.test(bytes) ? Buffer.from(bytes, 'latin1').toString('utf8') : bytes;
}

/**
 * Reads the managed-identity style credentials: the secret in `X-IDENTITY-HEADER` and the client id in
 * the `client_id` query parameter. So that an unmodified SDK using a *system-assigned* identity (which
 * sends no `client_id`) works too, the header may also carry `<clientId>:<secret>` (client ids and
 * base64url secrets contain no `:`). When both name a client they must agree.
 * @param header - the `X-IDENTITY-HEADER` value
 * @param clientIdParam - the `client_id` query parameter
 * @throws InvalidClientError when no client id can be determined or the two disagree
 */
export function parseIdentityHeader(
  header: string | null,
  clientIdParam: string | null,
): PresentedCredentials | undefined {
  if (header === null || header === '') return undefined;
  const colon = header.indexOf(':');
  const secret = colon < 0 ? header : header.slice(colon + 1);
  const headerId = colon < 0 ? undefined : header.slice(0, colon);
  if (headerId !== undefined && clientIdParam && clientIdParam !== headerId) {
    throw new InvalidClientError();
  }
  const clientId = headerId ?? clientIdParam;
  if (!clientId) throw new InvalidClientError('A client_id is required with X-IDENTITY-HEADER.');
  return { clientId, secret, method: 'identityHeader' };
}

/**
 * The client id that credentials name, for the audit row of a request refused before authentication;
 * undefined when there are none or they do not parse.
 * @param read - one of the parsers above, bound to the request's headers
 */
export function namedClientId(read: () => PresentedCredentials | undefined): string | undefined {
  try {
    return read()?.clientId;
  } catch {
    return undefined;
  }
}

/**
 * The secrets a request refused before authentication presented in `Authorization: Basic` and
 * `X-IDENTITY-HEADER`, as far as they can be read: a Basic value that does not parse has none, while an
 * identity header holds one even when the client id beside it is missing or disagrees. The broker records
 * a scope that holds one of them as a fingerprint (see `TokenBroker.refused`), never as sent.
 * @param authorization - the `Authorization` header value (null on a route that reads none)
 * @param identityHeader - the `X-IDENTITY-HEADER` value (null on a route that reads none)
 */
export function presentedSecrets(authorization: string | null, identityHeader: string | null): string[] {
  const secrets: string[] = [];
  try {
    const basic = parseBasicAuthorization(authorization);
    if (basic) secrets.push(basic.secret);
  } catch {
    // nothing in a malformed Basic value can be read as a secret
  }
  // Split as `parseIdentityHeader` splits it (after the first colon, or all of it), but without its checks.
  if (identityHeader) secrets.push(identityHeader.slice(identityHeader.indexOf(':') + 1));
  return secrets;
}
