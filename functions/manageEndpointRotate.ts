import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { adminRouteUrl } from '../shared/adminLinks';
import { withHttpErrors } from '../shared/http';
import { type AdminRoutes, adminRoutes } from '../shared/services';

/** Resolves the rotation module inside the invocation (tests pass one built over fakes). */
export type ManageEndpointRotateResolver = () => AdminRoutes<'rotation'>;

const defaultResolver: ManageEndpointRotateResolver = () => adminRoutes('rotation');

/**
 * `POST /api/manage/endpoints/{id}/rotate`: enqueues a rotation now (202; 409 while one runs, or while the job an
 * earlier request queued waits). Admin key.
 */
export function manageEndpointRotateHandler(resolve: ManageEndpointRotateResolver = defaultResolver) {
  return withHttpErrors(
    async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const { admin, publicBaseUrl } = resolve();
      const job = await admin.rotateNow(request.params.id ?? '');
      return {
        status: 202,
        // The endpoint's status, where the job's outcome shows (built as for a create).
        headers: {
          'cache-control': 'no-store',
          location: adminRouteUrl(`manage/endpoints/${encodeURIComponent(job.endpointId)}`, publicBaseUrl),
        },
        jsonBody: { accepted: true, job },
      };
    },
  );
}

app.http('manageEndpointRotate', {
  route: 'manage/endpoints/{id}/rotate',
  methods: ['POST'],
  authLevel: 'admin',
  handler: manageEndpointRotateHandler(),
});
