import { createHash } from 'node:crypto';

/**
 * How the audit trail and `TokenDenied` record presented text they may not hold, computed here on its
 * own (not with the app's function), as an operator would: `printf %s "$TEXT" | sha256sum | cut -c1-16`.
 */
export function sha256Hex16(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16);
}

/** A presented scope that does not parse, as recorded. */
export function malformedScope(text: string): string {
  return `malformed:${sha256Hex16(text)}:${text.length}`;
}

/** A presented scope that holds the request's own secret, as recorded. */
export function withheldScope(text: string): string {
  return `withheld:${sha256Hex16(text)}:${text.length}`;
}
