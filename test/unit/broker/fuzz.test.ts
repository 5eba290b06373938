import fc from 'fast-check';

import { endpointTokenHandler } from '../../../functions/endpointToken';
import { msiTokenHandler } from '../../../functions/msiToken';
import { oauthTokenHandler } from '../../../functions/oauthToken';
import { buildTestBroker } from '../../fakes/broker/buildTestBroker';
import { anyText, fuzzContext, fuzzRequest, printable } from '../../support/fuzzInput';

const formPair = fc.tuple(
  fc.constantFrom('grant_type', 'client_id', 'client_secret', 'scope', 'other'),
  fc.oneof(
    printable,
    fc.constantFrom('client_credentials', 'client-1', 'demo-token', 'https://ml.azure.com/.default'),
  ),
);
const authHeader = fc.oneof(
  printable,
  printable.map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
  fc.tuple(printable, printable).map(([a, b]) => `Basic ${Buffer.from(`${a}:${b}`).toString('base64')}`),
);

describe('Broker routes under fuzzed input', () => {
  const t = buildTestBroker();
  const oauth = oauthTokenHandler(() => t.module);
  const msi = msiTokenHandler(() => t.module);
  const aml = endpointTokenHandler(() => t.module);
  beforeAll(async () => {
    await t.addClient({ id: 'client-1', allowedScopes: ['demo-token', 'https://ml.azure.com'] });
  });

  it('oauth2/token never answers 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          anyText,
          fc.array(formPair, { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString()),
        ),
        fc.option(authHeader, { nil: undefined }),
        fc.constantFrom(
          'application/x-www-form-urlencoded',
          'application/json',
          'text/plain; charset=utf-8',
          '',
        ),
        async (body, authorization, contentType) => {
          const req = fuzzRequest({
            method: 'POST',
            url: 'http://localhost/api/oauth2/token',
            headers: { 'content-type': contentType, ...(authorization ? { authorization } : {}) },
            body: { string: body },
          });
          fc.pre(req !== undefined);
          const r = await oauth(req, fuzzContext);
          expect(r.status).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('msi/token never answers 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(fc.constantFrom('api-version', 'resource', 'client_id', 'mi_res_id', 'x'), printable),
          { maxLength: 5 },
        ),
        fc.option(printable, { nil: undefined }),
        async (pairs, identity) => {
          const req = fuzzRequest({
            method: 'GET',
            url: `http://localhost/api/msi/token?${new URLSearchParams(pairs).toString()}`,
            headers: identity !== undefined ? { 'x-identity-header': identity } : {},
          });
          fc.pre(req !== undefined);
          const r = await msi(req, fuzzContext);
          expect(r.status).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('endpoints/{id}/token never answers 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        printable,
        fc.option(authHeader, { nil: undefined }),
        fc.option(printable, { nil: undefined }),
        async (id, authorization, identity) => {
          const req = fuzzRequest({
            method: 'POST',
            url: 'http://localhost/api/endpoints/x/token',
            params: { id },
            headers: {
              ...(authorization ? { authorization } : {}),
              ...(identity !== undefined ? { 'x-identity-header': identity } : {}),
            },
          });
          fc.pre(req !== undefined);
          const r = await aml(req, fuzzContext);
          expect(r.status).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
  });
});
