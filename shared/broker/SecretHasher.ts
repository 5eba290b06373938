import {
  createHmac,
  createSecretKey,
  hash as oneShotHash,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/** Bytes of entropy in a broker client secret (256 bits, DESIGN "Broker client"). */
export const CLIENT_SECRET_BYTES = 32;

/**
 * Hashes broker client secrets as `HMAC-SHA256(pepper, secret)`. Secrets are 256-bit random values,
 * so a fast keyed hash is enough (no password-style slow hash) and the hot path stays at one HMAC per
 * request at most (none once the secret matched: see {@link SecretHasher.fingerprint}); the pepper lives only in settings (a Key Vault reference in Azure), so a leaked table alone
 * does not allow offline checks.
 */
export class SecretHasher {
  private readonly key: KeyObject;

  /** @param pepper - server-side pepper (`BROKER_SECRET_PEPPER`) */
  constructor(pepper: string) {
    this.key = createSecretKey(Buffer.from(pepper, 'utf8'));
  }

  /** The 32-byte HMAC of a presented secret. */
  hash(secret: string): Buffer {
    return createHmac('sha256', this.key).update(secret, 'utf8').digest();
  }

  /**
   * An unkeyed SHA-256 of a presented secret, for in-memory lookups only (never stored or logged):
   * one native call (`crypto.hash`, Node 20.12+), where an HMAC first builds a keyed hash object.
   */
  static fingerprint(secret: string): string {
    return oneShotHash('sha256', secret, 'base64');
  }

  /** The HMAC as stored (base64url). */
  hashForStorage(secret: string): string {
    return this.hash(secret).toString('base64url');
  }

  /** A new secret: 32 random bytes, base64url (43 characters, no padding). */
  static generateSecret(): string {
    return randomBytes(CLIENT_SECRET_BYTES).toString('base64url');
  }

  /** Constant-time equality of two 32-byte hashes (false, in constant time, on length mismatch). */
  static equal(a: Buffer, b: Buffer): boolean {
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
