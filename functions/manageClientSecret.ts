import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { SECRET_SLOTS } from '../shared/broker/BrokerClient';
import type { BrokerModule } from '../shared/broker/module';
import { ValidationError } from '../shared/errors';
import { withHttpErrors } from '../shared/http';
import { getServices } from '../shared/services';

/** Resolves the broker inside the invocation (tests pass one built over fakes). */
export type ManageClientSecretResolver = () => Pick<BrokerModule, 'admin'>;

const defaultResolver: ManageClientSecretResolver = () => getServices().broker;

/**
 * `POST /api/manage/clients/{id}/secrets/{primary|secondary}`: replaces one secret and answers 200
 * with it, the only time it is shown; the other secret keeps working. Admin key.
 */
export function manageClientSecretHandler(resolve: ManageClientSecretResolver = defaultResolver) {
  return withHttpErrors(
    async (request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> => {
      const slot = SECRET_SLOTS.find((known) => known === request.params['slot']);
      if (!slot) throw new ValidationError([{ field: 'slot', message: 'must be primary or secondary' }]);
      const regenerated = await resolve().admin.regenerate(request.params['id'] ?? '', slot);
      return { status: 200, headers: { 'cache-control': 'no-store' }, jsonBody: regenerated };
    },
  );
}

app.http('manageClientSecret', {
  route: 'manage/clients/{id}/secrets/{slot}',
  methods: ['POST'],
  authLevel: 'admin',
  handler: manageClientSecretHandler(),
});
