import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import type { HealthCheck } from '../shared/health';
import { withHttpErrors } from '../shared/http';
import { getServices } from '../shared/services';

/** Resolves the health check inside the invocation (tests pass one over fake probes). */
export type HealthResolver = () => Pick<HealthCheck, 'run'>;

const defaultResolver: HealthResolver = () => getServices().health;

/**
 * `GET /api/health`: each dependency's state; 200 when all are up, 503 otherwise. Anonymous, so calls of the
 * same second share one check (`HealthCheck`) rather than each calling Key Vault and storage.
 */
export function healthHandler(resolve: HealthResolver = defaultResolver) {
  return withHttpErrors(
    async (_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const report = await resolve().run();
      return {
        status: report.status === 'up' ? 200 : 503,
        headers: { 'cache-control': 'no-store' },
        jsonBody: report,
      };
    },
  );
}

app.http('health', { route: 'health', methods: ['GET'], authLevel: 'anonymous', handler: healthHandler() });
