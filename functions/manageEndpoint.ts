import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { readJsonObject, withHttpErrors } from '../shared/http';
import type { RotationModule } from '../shared/rotation/module';
import { getServices } from '../shared/services';

/** Resolves the rotation module inside the invocation (tests pass one built over fakes). */
export type ManageEndpointResolver = () => Pick<RotationModule, 'admin'>;

const defaultResolver: ManageEndpointResolver = () => getServices().rotation;

/** `GET /api/manage/endpoints/{id}` status, `PATCH` update, `DELETE` remove (204). Admin key. Never returns a key. */
export function manageEndpointHandler(resolve: ManageEndpointResolver = defaultResolver) {
  return withHttpErrors(
    async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const { admin } = resolve();
      const id = request.params.id ?? '';
      const headers = { 'cache-control': 'no-store' };
      if (request.method === 'GET') return { status: 200, headers, jsonBody: await admin.status(id) };
      if (request.method === 'PATCH')
        return { status: 200, headers, jsonBody: await admin.update(id, await readJsonObject(request)) };
      await admin.remove(id);
      return { status: 204, headers };
    },
  );
}

app.http('manageEndpoint', {
  route: 'manage/endpoints/{id}',
  methods: ['GET', 'PATCH', 'DELETE'],
  authLevel: 'admin',
  handler: manageEndpointHandler(),
});
