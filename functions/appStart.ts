import { app } from '@azure/functions';

import { getServices } from '../shared/services';

/**
 * Validates every setting, and the endpoints of `ENDPOINTS_FILE`, when the app starts. The services are
 * built lazily, so without this hook the first invocation would be the first to read them: the host would
 * start, every request answer a generic 500 and each timer and queue function fail on its own. A missing
 * or malformed setting or file entry stops start-up instead, with one message naming each.
 */
app.hook.appStart(async () => {
  await getServices().checkEndpointsFile();
});
