import { createSign, createVerify, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';

/** Claims of the tokens the stand-ins issue and verify. */
export type JwtClaims = Record<string, string | number | boolean | string[]>;

/** Why a token was refused. */
export type JwtRejection = 'malformed' | 'signature' | 'expired' | 'notYetValid';

/** Outcome of {@link JwtIssuer.verify}. */
export type JwtVerification =
  { ok: true; claims: JwtClaims } | { ok: false; reason: JwtRejection; claims?: JwtClaims };

function b64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

function parseJson(part: string): JwtClaims | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as JwtClaims)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Signs and verifies RS256 JWTs with a key pair made at start, so tokens are real JWTs that only
 * this emulator instance accepts (a token from another run fails the signature check, as a token
 * from another tenant would).
 */
export class JwtIssuer {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  readonly keyId = randomUUID().replace(/-/g, '').toUpperCase();

  constructor() {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  /** Returns a compact RS256 JWT carrying `claims`. */
  sign(claims: JwtClaims): string {
    const header = b64url(JSON.stringify({ alg: 'RS256', kid: this.keyId, typ: 'JWT' }));
    const payload = b64url(JSON.stringify(claims));
    const signer = createSign('RSA-SHA256');
    signer.update(`${header}.${payload}`);
    return `${header}.${payload}.${signer.sign(this.privateKey).toString('base64url')}`;
  }

  /** Checks signature, `nbf` and `exp` (seconds) against `nowSeconds`. */
  verify(token: string, nowSeconds: number): JwtVerification {
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'malformed' };
    const [header, payload, signature] = parts as [string, string, string];
    const claims = parseJson(payload);
    if (!parseJson(header) || !claims) return { ok: false, reason: 'malformed' };
    const verifier = createVerify('RSA-SHA256');
    verifier.update(`${header}.${payload}`);
    if (!verifier.verify(this.publicKey, Buffer.from(signature, 'base64url'))) {
      return { ok: false, reason: 'signature', claims };
    }
    if (typeof claims.exp === 'number' && claims.exp <= nowSeconds)
      return { ok: false, reason: 'expired', claims };
    if (typeof claims.nbf === 'number' && claims.nbf > nowSeconds + 300) {
      return { ok: false, reason: 'notYetValid', claims };
    }
    return { ok: true, claims };
  }
}
