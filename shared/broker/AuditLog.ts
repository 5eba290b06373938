import { createHash } from 'node:crypto';

import { cutText } from '../tableLimits';
import type { UpstreamClass } from './UpstreamToken';

/** The broker's client protocols. */
export const BROKER_PROTOCOLS = ['oauth', 'msi', 'amlToken'] as const;
export type BrokerProtocol = (typeof BROKER_PROTOCOLS)[number];

/** Longest client id or scope an audit row or denial event keeps: a presented one may be any length. */
export const MAX_AUDIT_TEXT = 256;

/**
 * `text` cut to {@link MAX_AUDIT_TEXT} UTF-16 code units, never inside a surrogate pair (see `cutText`),
 * so that a row or event holding it is text Table storage and Application Insights accept.
 */
export function auditText(text: string): string {
  return cutText(text, MAX_AUDIT_TEXT);
}

/**
 * The first 16 hex digits of the SHA-256 of `text`: how the audit trail records presented text that may be a
 * secret pasted into the wrong field (an id no registered client has, a scope that does not parse). Anyone
 * holding the text can find its rows (`printf %s "$TEXT" | sha256sum | cut -c1-16`); no one can read it
 * from them. Unsalted on purpose, for that search: a guessable text (a typo) stays guessable.
 */
export function auditFingerprint(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16);
}

/**
 * Why a presented scope is recorded as `<why>:<fingerprint>:<length>` rather than as sent: it does not
 * parse (`malformed`: a secret, token or key pasted there is no endpoint id or resource URI), or it holds
 * the secret its own request presented (`withheld`, well-formed or not).
 */
export type WithheldScope = 'malformed' | 'withheld';

/**
 * The recorded form of a presented scope that is not recorded as sent (see {@link WithheldScope}): its
 * {@link auditFingerprint} and its length in UTF-16 code units (characters, for ASCII text), which tells
 * a 43-character secret or a 1,000-character token from a typo without showing either.
 */
export function withheldScope(why: WithheldScope, scope: string): string {
  return `${why}:${auditFingerprint(scope)}:${scope.length}`;
}

/** One decision of the broker: who asked for what, when, and the answer. Never the token or secret. */
export interface AuditEntry {
  /** Epoch ms of the decision (formatted off the hot path). */
  readonly timeMs: number;
  /**
   * The client id as presented when it is a registered client's, else `unregistered:` and a hash of it
   * (it may be a secret pasted into the id field: see `ClientAuthenticator.recordableId`).
   */
  readonly clientId: string;
  /**
   * The scope as normalised, or as presented when it was refused before it was read; a presented one
   * that does not parse, or holds the request's secret, as `malformed:` or `withheld:` with a hash and
   * its length (see {@link withheldScope}).
   */
  readonly scope: string;
  readonly protocol: BrokerProtocol;
  readonly outcome: 'issued' | 'denied';
  /** Error code of a denial, e.g. `InvalidClient`, `ScopeNotAllowed`, `UpstreamUnavailable`. */
  readonly reason?: string;
  /** Where the credential came from (issued) or which upstream failed. */
  readonly upstream?: UpstreamClass;
  /** Failure class of an upstream denial, e.g. `throttled`. */
  readonly failure?: string;
}

/**
 * Where audit entries go. `record` must be cheap and must not throw: it is called on the
 * hot path, so implementations buffer and write in the background, logging (not raising) failures.
 */
export interface AuditLog {
  /** Queues one entry. */
  record(entry: AuditEntry): void;
  /** Writes everything queued so far. */
  flush(): Promise<void>;
  /** Flushes and stops background work (process shutdown, tests). */
  close(): Promise<void>;
}
