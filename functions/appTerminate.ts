import { app } from '@azure/functions';

import { closeServices } from '../shared/services';

/**
 * Graceful shutdown (scale-in, a deployment, a restart): the broker writes its audit trail in the
 * background about once a second, so without this hook a stopping instance would drop the last
 * second's decisions and any it was holding while Table storage failed. (A process killed outright
 * runs no hook.)
 */
app.hook.appTerminate(async () => {
  await closeServices();
});
