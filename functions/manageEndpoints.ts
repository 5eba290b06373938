import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { adminRouteUrl } from '../shared/adminLinks';
import { readJsonObject, withHttpErrors } from '../shared/http';
import { pageBody, readPageRequest } from '../shared/listPages';
import { type AdminRoutes, adminRoutes } from '../shared/services';

/** Resolves the rotation module inside the invocation (tests pass one built over fakes). */
export type ManageEndpointsResolver = () => AdminRoutes<'rotation'>;

const defaultResolver: ManageEndpointsResolver = () => adminRoutes('rotation');

/**
 * `GET /api/manage/endpoints` lists endpoints a page at a time (`$top`, `$skipToken`; `value` and
 * `nextLink`); `POST` registers one (201). Admin key. Never returns a key.
 */
export function manageEndpointsHandler(resolve: ManageEndpointsResolver = defaultResolver) {
  return withHttpErrors(
    async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const { admin, publicBaseUrl } = resolve();
      if (request.method === 'GET') {
        const page = readPageRequest(request, 'endpoints');
        return {
          status: 200,
          headers: { 'cache-control': 'no-store' },
          jsonBody: pageBody(request, 'endpoints', page, await admin.listPage(page), publicBaseUrl),
        };
      }
      const endpoint = await admin.register(await readJsonObject(request));
      return {
        status: 201,
        // A path from the root (or the public base URL): a relative one resolves against the request's own path (manage/manage/...).
        headers: {
          'cache-control': 'no-store',
          location: adminRouteUrl(`manage/endpoints/${encodeURIComponent(endpoint.id)}`, publicBaseUrl),
        },
        jsonBody: endpoint,
      };
    },
  );
}

app.http('manageEndpoints', {
  route: 'manage/endpoints',
  methods: ['GET', 'POST'],
  authLevel: 'admin',
  handler: manageEndpointsHandler(),
});
