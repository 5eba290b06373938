import { endpointId, ONLINE_SCORE_ACTION } from './armShapes';
import { checkEntraToken } from './auth';
import { bearer, jsonBodyOrUndefined, type RequestContext, type Route, seconds, send } from './httpUtil';
import { keyAccepted } from './keySlots';
import type { EmulatorState, EndpointRecord } from './state';

/** Why a scoring call is refused, or undefined when it is accepted. */
function refusal(
  state: EmulatorState,
  ctx: RequestContext,
  e: EndpointRecord,
): { status: number; code: string } | undefined {
  if (e.kind === 'serverless' && e.authMode === 'None') return undefined;
  const presented =
    bearer(ctx) ?? (e.kind === 'serverless' ? ctx.req.headers['api-key']?.toString() : undefined);
  if (e.authMode === 'Key') {
    const ok = presented !== undefined && keyAccepted(e, presented, ctx.now);
    return ok ? undefined : { status: 401, code: 'key_auth_access_denied' };
  }
  if (e.authMode === 'AMLToken') {
    const verified = presented ? state.jwt.verify(presented, seconds(ctx.now)) : undefined;
    const ws = state.workspace(e);
    const c = verified?.ok ? verified.claims : undefined;
    const ok =
      c &&
      c.iss === 'azureml' &&
      c.aud === 'azureml' &&
      c.endpointName === e.name &&
      c.workspaceId === ws?.workspaceId;
    return ok ? undefined : { status: 401, code: 'aml_token_auth_access_denied' };
  }
  const check = checkEntraToken(state, ctx, ['https://ml.azure.com']);
  if (!check.ok) return { status: 401, code: 'aad_token_auth_access_denied' };
  // Azure ML checks the caller's role assignment for the score data action before an AADToken call
  // reaches the deployment, so a valid token without it is a 403, not a 401.
  if (!state.roles.allows(check.oid, ONLINE_SCORE_ACTION, endpointId(e))) {
    return { status: 403, code: 'aad_token_auth_access_denied' };
  }
  return undefined;
}

/**
 * What the stand-ins' tiny model answers (online, serverless and v1 alike): the sum of each row of
 * `data`, a list of numbers like the recorded model's.
 */
export function rowSums(ctx: RequestContext): unknown {
  // A body that is not JSON still gets an answer: the stand-in is about authentication.
  const data = jsonBodyOrUndefined(ctx)?.data;
  if (!Array.isArray(data)) return [];
  return data.map((row) =>
    Array.isArray(row) ? row.reduce<number>((s, v) => s + (typeof v === 'number' ? v : 0), 0) : 0,
  );
}

/** `POST /inference/{workspace}/{endpoint}/...` — the scoring URI of online and serverless endpoints. */
export function scoringRoute(state: EmulatorState, ctx: RequestContext): Route | undefined {
  const [root, workspace, name] = ctx.segments;
  if (root !== 'inference' || !workspace || !name) return undefined;
  return {
    operation: 'scoring.score',
    run: (c) => {
      const e = state.endpointForScoring(workspace, name);
      if (!e || c.method !== 'POST')
        return send(c, e ? 405 : 404, { message: e ? 'Method not allowed' : 'Endpoint not found' });
      const refused = refusal(state, c, e);
      if (refused) {
        state.count('scoring.rejected');
        return send(
          c,
          refused.status,
          { message: refused.code },
          refused.status === 401 ? { 'www-authenticate': 'Bearer' } : {},
        );
      }
      state.count('scoring.accepted');
      send(
        c,
        200,
        rowSums(c),
        { 'azureml-model-deployment': Object.keys(e.traffic)[0] ?? 'default' },
        'application/json',
      );
    },
  };
}
