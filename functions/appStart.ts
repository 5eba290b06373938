import { app } from '@azure/functions';

import { getServices } from '../shared/services';

/**
 * Validates every setting, and the endpoints of `ENDPOINTS_FILE`, when the app starts (the services are
 * built lazily, so the first invocation would otherwise be the first to read them). A missing or
 * malformed setting or file entry then stops start-up with one message naming each, where before the
 * host started and every request answered 500 with a generic message while the timer and queue
 * functions failed on their own.
 */
app.hook.appStart(async () => {
  await getServices().checkEndpointsFile();
});
