import { buildTestBroker } from '../../fakes/broker/buildTestBroker';
import { testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';
import { waitFor } from '../../support/waitFor';

const OTHER_ARM = {
  subscriptionId: '00000000-0000-0000-0000-000000000002',
  resourceGroup: 'rg2',
  workspace: 'ws2',
  name: 'other',
};

/** Past the broker's endpoint lookup TTL (30 s), the most operations.md lets another instance lag. */
const PAST_LOOKUP_TTL_MS = 30_001;

describe('Broker: an endpoint changed while tokens for it are cached', () => {
  it('hands out the re-registered endpoint’s token, not the deleted one’s, once the lookup runs out', async () => {
    // Prepare
    const { t, vend } = await demoTokenClient();
    const before = await vend();

    // Act: deleted and registered again under the same id for another endpoint, on another instance
    t.endpoints.add(
      testEndpoint('demo-token', 'AMLToken', {
        arm: { ...OTHER_ARM },
      }),
    );
    t.clock.advance(PAST_LOOKUP_TTL_MS);
    const after = await vend();

    // Assess
    expect(before.token.value).toBe('amlToken-token-1');
    expect(t.aml.targets.at(-1)?.arm.name).toBe('other');
    expect(after.token.value).toBe('amlToken-token-2');
  });

  it('hands out the key of the endpoint’s new secret once the lookup runs out, not the old secret’s', async () => {
    // Prepare
    const t = buildTestBroker();
    const c = await t.addClient({ allowedScopes: ['demo-key'], keyAccess: true });
    const vend = () =>
      t.module.broker.vend({ protocol: 'amlToken', clientId: c.id, secret: c.primary, scope: 'demo-key' });
    const before = await vend();

    // Act: secretName patched on another instance
    t.endpoints.add(testEndpoint('demo-key', 'Key', { brokerKeyAccess: true, secretName: 'other-secret' }));
    t.clock.advance(PAST_LOOKUP_TTL_MS);
    const after = await vend();

    // Assess
    expect(before.token.value).toBe('keyVault-token-1');
    expect(t.keys.targets.at(-1)?.secretName).toBe('other-secret');
    expect(after.token.value).toBe('keyVault-token-2');
  });

  it('hands out a fresh token, not the deleted endpoint’s, once an endpoint re-created in Azure is reinstated', async () => {
    // Prepare
    const { t, vend } = await demoTokenClient();
    const registered = t.endpoints.endpoints.get('demo-token')!;
    const before = await vend();

    // Act: deleted in Azure (retired), then created again at the same coordinates (reinstated), on another
    // instance; this one's lookup runs out while it is retired, and again once it is back
    t.endpoints.add({ ...registered, retiredAt: '2026-01-01T00:00:10.000Z' });
    t.clock.advance(PAST_LOOKUP_TTL_MS);
    const whileRetired = await vend().catch((e: unknown) => e);
    const { retiredAt: _, ...back } = t.endpoints.endpoints.get('demo-token')!;
    t.endpoints.add({ ...back, reinstatedAt: '2026-01-01T00:00:40.000Z' });
    t.clock.advance(PAST_LOOKUP_TTL_MS);
    const after = await vend();

    // Assess: the same coordinates, but a token fetched for the endpoint as it is now
    expect(before.token.value).toBe('amlToken-token-1');
    expect(whileRetired).toMatchObject({ status: 403 });
    expect(after.token.value).toBe('amlToken-token-2');
    expect(t.aml.targets.map((e) => e.reinstatedAt)).toEqual([undefined, '2026-01-01T00:00:40.000Z']);
  });

  it('hands out a fresh token once the id is deleted and registered again at the same coordinates', async () => {
    // Prepare
    const { t, vend } = await demoTokenClient();
    const before = await vend();

    // Act: DELETE and POST again on another instance (the endpoint re-created in Azure meanwhile), all
    // within one lookup of this one
    t.endpoints.add(
      testEndpoint('demo-token', 'AMLToken', {
        createdAt: '2026-01-01T00:00:20.000Z',
        updatedAt: '2026-01-01T00:00:20.000Z',
      }),
    );
    t.clock.advance(PAST_LOOKUP_TTL_MS);
    const after = await vend();

    // Assess
    expect(before.token.value).toBe('amlToken-token-1');
    expect(after.token.value).toBe('amlToken-token-2');
  });

  it('keeps serving the cached token when only fields no upstream reads change (a probe PATCH)', async () => {
    // Prepare
    const { t, vend } = await demoTokenClient();
    const registered = t.endpoints.endpoints.get('demo-token')!;
    const before = await vend();

    // Act
    t.endpoints.add({
      ...registered,
      probe: { ...registered.probe, acceptedStatuses: [200, 422] },
      updatedAt: '2026-01-01T00:00:20.000Z',
    });
    t.clock.advance(PAST_LOOKUP_TTL_MS);
    const after = await vend();

    // Assess: one upstream fetch
    expect(after.token.value).toBe(before.token.value);
    expect(t.aml.targets).toHaveLength(1);
  });

  it('does not keep a token fetched for the old endpoint by a lookup that read it before an admin write here', async () => {
    // Prepare: a lookup reads the registry and its answer is held until after the admin write
    const { t, vend } = await demoTokenClient();
    t.endpoints.answers.close();
    const racing = vend();
    await waitFor('the lookup’s registry read', () => t.endpoints.reads === 1, { intervalMs: 1 });

    // Act: the arm change lands and this instance forgets the endpoint, then the held answer arrives
    t.endpoints.add(testEndpoint('demo-token', 'AMLToken', { arm: { ...OTHER_ARM } }));
    t.module.invalidateEndpoint('demo-token');
    t.endpoints.answers.open();
    await racing;
    const after = await vend();

    // Assess
    expect(t.aml.targets.map((e) => e.arm.name)).toEqual(['demo-token', 'other']);
    expect(after.token.value).toBe('amlToken-token-2');
  });
});

/** A broker over fakes and a client allowed `demo-token`, with the OAuth vend of its token. */
async function demoTokenClient() {
  const t = buildTestBroker();
  const c = await t.addClient({ allowedScopes: ['demo-token'] });
  const vend = () =>
    t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: 'demo-token' });
  return { t, vend };
}
