import { bearer, type RequestContext, type Route, seconds, send } from './httpUtil';
import { keyAccepted } from './keySlots';
import { rowSums } from './scoring';
import type { EmulatorState } from './state';
import type { V1ServiceRecord } from './v1State';

/** True when the request's bearer credential is accepted by `s` (no auth at all accepts anything). */
function accepted(state: EmulatorState, ctx: RequestContext, s: V1ServiceRecord): boolean {
  if (!s.authEnabled && !s.tokenAuthEnabled) return true;
  const presented = bearer(ctx);
  if (presented === undefined) return false;
  if (s.authEnabled) return keyAccepted(s, presented, ctx.now);
  const verified = state.jwt.verify(presented, seconds(ctx.now));
  const ws = state.workspace(s);
  const c = verified.ok ? verified.claims : undefined;
  return Boolean(c && c.iss === 'azureml' && c.serviceName === s.name && c.workspaceId === ws?.workspaceId);
}

/** `POST /v1/{workspace}/{name}/score`: the scoring URI of a v1 web service (key, token or no auth). */
export function v1ScoringRoute(state: EmulatorState, ctx: RequestContext): Route | undefined {
  const [root, workspace, name, verb] = ctx.segments;
  if (root !== 'v1' || !workspace || !name || verb !== 'score' || ctx.segments.length !== 4) return undefined;
  return {
    operation: 'scoring.v1.score',
    run: (c) => {
      const s = state.v1.forScoring(workspace, name);
      if (!s || c.method !== 'POST')
        return send(c, s ? 405 : 404, { message: s ? 'Method not allowed' : 'Service not found' });
      if (!accepted(state, c, s)) {
        state.count('scoring.rejected');
        return send(c, 401, { message: 'Unauthorized' }, { 'www-authenticate': 'Bearer' });
      }
      state.count('scoring.accepted');
      send(c, 200, rowSums(c), {}, 'application/json');
    },
  };
}
