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

/** One decision of the broker: who asked for what, when, and the answer. Never the token or secret. */
export interface AuditEntry {
  /** Epoch ms of the decision (formatted off the hot path). */
  readonly timeMs: number;
  /**
   * The client id as presented when it is a registered client's, else `unregistered:` and a hash of it
   * (it may be a secret pasted into the id field: see `ClientAuthenticator.recordableId`).
   */
  readonly clientId: string;
  /** The scope as normalised, or as presented when it could not be. */
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
