import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { adminRouteUrl } from '../shared/adminLinks';
import { readJsonObject, withHttpErrors } from '../shared/http';
import { pageBody, readPageRequest } from '../shared/listPages';
import { type AdminRoutes, adminRoutes } from '../shared/services';

/** Resolves the broker inside the invocation (tests pass one built over fakes). */
export type ManageClientsResolver = () => AdminRoutes<'broker'>;

const defaultResolver: ManageClientsResolver = () => adminRoutes('broker');

/**
 * `GET /api/manage/clients` lists broker clients a page at a time (`$top`, `$skipToken`; `value` and
 * `nextLink`; never secrets or hashes); `POST` creates one and
 * answers 201 with both secrets, the only time they are shown. Admin key.
 */
export function manageClientsHandler(resolve: ManageClientsResolver = defaultResolver) {
  return withHttpErrors(
    async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const { admin, publicBaseUrl } = resolve();
      if (request.method === 'GET') {
        const page = readPageRequest(request, 'clients');
        return {
          status: 200,
          headers: { 'cache-control': 'no-store' },
          jsonBody: pageBody(request, 'clients', page, await admin.listPage(page), publicBaseUrl),
        };
      }
      const created = await admin.create(await readJsonObject(request));
      return {
        status: 201,
        headers: {
          'cache-control': 'no-store',
          location: adminRouteUrl(`manage/clients/${encodeURIComponent(created.client.id)}`, publicBaseUrl),
        },
        jsonBody: created,
      };
    },
  );
}

app.http('manageClients', {
  route: 'manage/clients',
  methods: ['GET', 'POST'],
  authLevel: 'admin',
  handler: manageClientsHandler(),
});
