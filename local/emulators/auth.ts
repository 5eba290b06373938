import { bearer, type RequestContext, seconds } from './httpUtil';
import type { JwtClaims } from './jwt';
import type { EmulatorState } from './state';

/** Why a bearer token was refused. */
export type TokenProblem =
  'missing' | 'malformed' | 'signature' | 'expired' | 'notYetValid' | 'audience' | 'issuer';

/** Outcome of {@link checkEntraToken}. */
export type TokenCheck =
  | { ok: true; claims: JwtClaims; oid: string; appid: string; iss: string }
  | { ok: false; problem: TokenProblem; audience?: string; exp?: number };

/** The audiences ARM accepts a token for; the v1 model-management service takes ARM tokens too. */
export const ARM_AUDIENCES: readonly string[] = [
  'https://management.azure.com',
  'https://management.core.windows.net',
];

function normalise(aud: string): string {
  return aud.replace(/\/+$/, '').toLowerCase();
}

/**
 * Verifies the request's bearer token as an Entra token issued by this emulator's identity
 * stand-in: signature, lifetime, issuer (this tenant) and one of `audiences`.
 */
export function checkEntraToken(
  state: EmulatorState,
  ctx: Pick<RequestContext, 'req' | 'now'>,
  audiences: readonly string[],
): TokenCheck {
  const token = bearer(ctx);
  if (!token) return { ok: false, problem: 'missing' };
  const verified = state.jwt.verify(token, seconds(ctx.now));
  if (!verified.ok) {
    const exp = verified.claims?.exp;
    return { ok: false, problem: verified.reason, ...(typeof exp === 'number' ? { exp } : {}) };
  }
  const { claims } = verified;
  const iss = String(claims.iss ?? '');
  if (iss !== `https://sts.windows.net/${state.tenantId}/`) return { ok: false, problem: 'issuer' };
  const aud = String(claims.aud ?? '');
  if (!audiences.map(normalise).includes(normalise(aud)))
    return { ok: false, problem: 'audience', audience: aud };
  return { ok: true, claims, oid: String(claims.oid ?? ''), appid: String(claims.appid ?? ''), iss };
}
