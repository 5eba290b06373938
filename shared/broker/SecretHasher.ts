import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of entropy in a broker client secret (256 bits, DESIGN "Broker client"). */
export const CLIENT_SECRET_BYTES = 32;

/**
 * Hashes broker client secrets as `HMAC-SHA256(pepper, secret)`. Secrets are 256-bit random values,
 * so a fast keyed hash is enough (no password-style slow hash) and the hot path stays at one HMAC per
 * request at most (none once the secret matched: see {@link SecretHasher.sameSecret}); the pepper lives
 * only in settings (a Key Vault reference in Azure), so a leaked table alone does not allow offline checks.
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
   * Constant-time equality of a presented secret and one that matched before (held in memory only, never
   * stored or logged), in plain JavaScript: every character is compared, whatever the first difference.
   * Why not a hash of it: inside the Functions host a single SHA-256 call costs about 6 µs (OpenSSL's
   * code is cold between requests; 0.4 µs in a tight loop), the largest step of a warm vend.
   */
  static sameSecret(presented: string, remembered: string): boolean {
    if (presented.length !== remembered.length) return false;
    let difference = 0;
    for (let i = 0; i < presented.length; i++) {
      difference |= presented.charCodeAt(i) ^ remembered.charCodeAt(i);
    }
    return difference === 0;
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
