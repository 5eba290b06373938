import { AppError, DependencyUnavailableError } from '../errors';
import { UpstreamUnavailableError } from './errors';

/**
 * What the three token protocols (OAuth, MSI, AML token) share when they refuse a request: each renders
 * its refusals in its own wire format, but they tell a client the same things.
 */

/**
 * The `WWW-Authenticate` value of a 401 (RFC 7617): the client may authenticate with Basic.
 * @param realm - @default 'aml-credential-broker'
 */
export function basicChallenge(realm = 'aml-credential-broker'): string {
  return `Basic realm="${realm}", charset="UTF-8"`;
}

/**
 * The message a refused client may read: a 4xx error's own message; for an upstream outage the
 * upstream and failure class it names (never the upstream's body); for any other dependency outage or
 * an unexpected error a fixed text, since 5xx messages may name internals and are only logged.
 */
export function clientMessage(error: unknown): string {
  if (!(error instanceof AppError)) return 'An unexpected error occurred.';
  if (error.expose || error instanceof UpstreamUnavailableError) return error.message;
  return error instanceof DependencyUnavailableError
    ? 'A service the broker depends on is not available. Try again later.'
    : 'An unexpected error occurred.';
}
