import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';

import { adminRoute } from './adminApi';
import { armRoute } from './arm';
import { armError } from './armShapes';
import { readBody, type RequestContext, type Route, send, UnreadableRequestError } from './httpUtil';
import { handleIdentityToken, identityError } from './identity';
import { keyVaultRoute } from './keyVault';
import { kvError } from './keyVaultShapes';
import { scoringRoute } from './scoring';
import type { EmulatorState } from './state';
import type { EmulatedService, EmulatorControl } from './types';
import { v1ScoringRoute } from './v1Scoring';
import { v1Route } from './v1Services';
import { mmsError } from './v1Shapes';

const CODES: Record<number, string> = {
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new UnreadableRequestError('The request URL is not valid.');
  }
}

function context(req: IncomingMessage, res: ServerResponse, bodyText: string): RequestContext {
  const url = new URL(req.url ?? '/', 'https://127.0.0.1');
  const raw = url.pathname.split('/');
  const segments = raw.filter((s) => s !== '').map(decodeSegment);
  return {
    req,
    res,
    method: (req.method ?? 'GET').toUpperCase(),
    url,
    segments,
    trailingSlash: url.pathname.length > 1 && url.pathname.endsWith('/'),
    query: url.searchParams,
    bodyText,
    now: Date.now(),
  };
}

function route(
  state: EmulatorState,
  control: EmulatorControl,
  ctx: RequestContext,
): [EmulatedService | 'admin', Route] | undefined {
  const admin = adminRoute(control, ctx);
  if (admin) return ['admin', admin];
  if (ctx.url.pathname.toLowerCase().replace(/\/$/, '') === '/msi/token' && ctx.method === 'GET') {
    return ['identity', { operation: 'identity.token', run: (c) => handleIdentityToken(state, c) }];
  }
  const kv = keyVaultRoute(state, ctx);
  if (kv) return ['keyVault', kv];
  const arm = armRoute(state, ctx);
  if (arm) return ['arm', arm];
  const mms = v1Route(state, ctx);
  if (mms) return ['modelManagement', mms];
  const v1Scoring = v1ScoringRoute(state, ctx);
  if (v1Scoring) return ['scoring', v1Scoring];
  const scoring = scoringRoute(state, ctx);
  return scoring ? ['scoring', scoring] : undefined;
}

/** Answers an injected fault status in the service's own error shape. */
function faultAnswer(
  ctx: RequestContext,
  service: EmulatedService,
  status: number,
  retryAfterSeconds: number | undefined,
): void {
  const headers: Record<string, string> =
    retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) };
  const code = CODES[status] ?? 'InjectedFault';
  const message = `Injected fault: the ${service} stand-in answers ${status}.`;
  if (service === 'identity') return identityError(ctx, status, message, headers);
  if (service === 'keyVault')
    return kvError(ctx, status, status === 429 ? 'Throttled' : code, message, { headers });
  if (service === 'arm') return armError(ctx, status, code, message, headers);
  if (service === 'modelManagement') return mmsError(ctx, status, code, message, headers);
  send(ctx, status, { message }, headers);
}

/** One HTTPS server serving every stand-in by path. */
export function createEmulatorServer(
  state: EmulatorState,
  control: EmulatorControl,
  tls: { cert: string; key: string },
  log: (line: string) => void,
): Server {
  return createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    void (async () => {
      let ctx: RequestContext | undefined;
      let operation = 'unrouted';
      try {
        ctx = context(req, res, await readBody(req));
        state.settle(ctx.now);
        const found = route(state, control, ctx);
        if (!found) {
          send(ctx, 404, {
            error: { code: 'NotFound', message: `No stand-in serves ${ctx.method} ${ctx.url.pathname}` },
          });
          return;
        }
        const [service, r] = found;
        operation = r.operation;
        if (service !== 'admin') {
          state.count(operation);
          const decision = await state.faults.apply(service, r.faultScope);
          if (decision.kind !== 'none') {
            state.count(`${operation}.faulted`);
            if (decision.kind === 'outage') {
              req.socket.destroy();
              return;
            }
            faultAnswer(ctx, service, decision.status, decision.retryAfterSeconds);
            return;
          }
        }
        await r.run(ctx);
      } catch (error) {
        // A request Azure would refuse (bad escape in the path, oversized body) gets a definite 4xx, as
        // there: a dropped connection reads as an outage, which the app retries instead of failing.
        if (res.headersSent) res.destroy();
        else if (error instanceof UnreadableRequestError) {
          const status = error.tooLarge ? 413 : 400;
          const code = error.tooLarge ? 'RequestEntityTooLarge' : 'BadRequest';
          const text = JSON.stringify({ error: { code, message: error.message } });
          res
            .writeHead(status, {
              'content-type': 'application/json; charset=utf-8',
              'content-length': String(Buffer.byteLength(text)),
            })
            .end(text);
        } else if (ctx)
          send(ctx, 500, { error: { code: 'InternalServerError', message: 'The stand-in failed.' } });
        else res.destroy();
      } finally {
        // Method, path and status only: paths carry names, never key or token values.
        if (operation !== 'admin')
          log(`${req.method ?? ''} ${ctx?.url.pathname ?? ''} -> ${res.statusCode} (${operation})`);
      }
    })();
  });
}
