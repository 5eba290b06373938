import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import type { BrokerModule } from '../shared/broker/module';
import { readJsonObject, withHttpErrors } from '../shared/http';
import { getServices } from '../shared/services';

/** Resolves the broker inside the invocation (tests pass one built over fakes). */
export type ManageClientResolver = () => Pick<BrokerModule, 'admin'>;

const defaultResolver: ManageClientResolver = () => getServices().broker;

/**
 * `/api/manage/clients/{id}`: `GET` one client (no secrets), `PATCH` scopes, rate limit, enabled flag,
 * expiry or key access (`{"enabled": false}` disables), `DELETE` removes it (204). Admin key.
 */
export function manageClientHandler(resolve: ManageClientResolver = defaultResolver) {
  return withHttpErrors(
    async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const { admin } = resolve();
      const id = request.params['id'] ?? '';
      const headers = { 'cache-control': 'no-store' };
      if (request.method === 'DELETE') {
        await admin.delete(id);
        return { status: 204, headers };
      }
      const client =
        request.method === 'PATCH'
          ? await admin.update(id, await readJsonObject(request))
          : await admin.get(id);
      return { status: 200, headers, jsonBody: { client } };
    },
  );
}

app.http('manageClient', {
  route: 'manage/clients/{id}',
  methods: ['GET', 'PATCH', 'DELETE'],
  authLevel: 'admin',
  handler: manageClientHandler(),
});
