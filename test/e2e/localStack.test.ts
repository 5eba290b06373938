import { join } from 'node:path';

import { odata, TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';

import { DEMO_ARM, seedDemo } from '../../local/demo';
import { type LocalStack, startLocalStack } from '../../local/stack';
import type { PublishRetry } from '../../shared/events/PublishRetry';
import { StorageJsonQueue } from '../../shared/StorageJsonQueue';
import { useEmulatorIdentity } from '../support/emulators';
import { basicAuth } from '../support/httpParts';
import { deliver, secretEvent } from '../support/keyVaultEvents';
import { standInVaultClient } from '../support/probeClient';
import { sleep, waitFor } from '../support/waitFor';

/**
 * What `npm start` gives a user, end to end: the compiled app in the local Functions host, talking to
 * Azurite and the HTTPS stand-ins through the real Azure SDKs. Needs `npm run build` (done by `npm test`).
 */
describe('Local stack (npm start)', () => {
  const root = join(__dirname, '..', '..');
  let stack: LocalStack;
  let secret: string;
  let clientId: string;

  beforeAll(async () => {
    stack = await startLocalStack({ root, functionsPort: 0, emulatorPort: 0 });
    const demo = await seedDemo(stack, join(root, '.local'), 'e2e-demo-client.json');
    secret = demo.files.clientSecret;
    clientId = demo.clientId;
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const oauthToken = (scope: string) =>
    fetch(`${stack.functionsUrl}/api/oauth2/token`, {
      method: 'POST',
      headers: {
        authorization: basicAuth(clientId, secret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: `grant_type=client_credentials&scope=${scope}`,
    });
  const keyToken = async () => {
    const response = await fetch(`${stack.functionsUrl}/api/endpoints/demo-key-endpoint/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(clientId, secret) },
    });
    return {
      status: response.status,
      body: (await response.json()) as { accessToken: string; expiryTimeUtc: number },
    };
  };
  const score = (endpoint: string, bearer: string) =>
    fetch(`${stack.emulatorUrl}/inference/${DEMO_ARM.workspace}/${endpoint}/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: '{}',
    });

  it('reports every dependency up', async () => {
    // Act
    const response = await fetch(`${stack.functionsUrl}/api/health`);

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'up' });
  });

  it('rotates the demo Key endpoint into Key Vault and the new key scores', async () => {
    // Prepare: the demo asked for a first rotation of each Key endpoint; wait for the worker.
    const api = `${stack.functionsUrl}/api/manage/endpoints/demo-key-endpoint`;
    const headers = { 'x-functions-key': stack.masterKey };
    let status: { lastRotation?: { outcome?: string }; secretVersion?: string } = {};
    for (let i = 0; i < 60 && !status.secretVersion; i++) {
      status = (await (await fetch(api, { headers })).json()) as typeof status;
      if (!status.secretVersion) await sleep(500);
    }

    // Act
    const versions = stack.emulators.control.secretVersions('demo-key-endpoint-key');
    const current = versions[versions.length - 1];
    const keys = stack.emulators.control.keys({ ...DEMO_ARM, name: 'demo-key-endpoint' });

    // Assess: the vault holds a key the endpoint accepts, and the status never shows it.
    expect(status.secretVersion).toBeDefined();
    expect([keys.primaryKey, keys.secondaryKey]).toContain(current?.value);
    expect(JSON.stringify(status)).not.toContain(current?.value);
    // Its KeyRotated reaches the topic, published with the managed identity: the stack, like infra/, has no key.
    await waitFor('the KeyRotated event at the topic', () =>
      stack.topic
        .received()
        .some((e) => e.type === 'aml-credential-broker.KeyRotated' && e.subject === 'demo-key-endpoint-key'),
    );
  });

  it('hands the demo client the Key endpoint key in the Azure ML token shape, and it scores', async () => {
    // Act: the demo endpoint and client both opted in to key access.
    const startedS = Date.now() / 1000;
    const { status, body } = await keyToken();
    const scored = await score('demo-key-endpoint', body.accessToken);

    // Assess: the key is promised for the demo's 72-s grace period, not until the next rotation.
    expect(status).toBe(200);
    expect(scored.status).toBe(200);
    expect(body.expiryTimeUtc).toBeGreaterThan(startedS + 30);
    expect(body.expiryTimeUtc).toBeLessThanOrEqual(Date.now() / 1000 + 72);
  });

  it("hands out a key a person wrote to Key Vault once the write's Event Grid event arrives", async () => {
    // Prepare: the broker has the current key cached; a person writes the endpoint's other key (fixing
    // drift, say), which promises nothing about the key it replaced.
    const cached = (await keyToken()).body.accessToken;
    const keys = stack.emulators.control.keys({ ...DEMO_ARM, name: 'demo-key-endpoint' });
    const other = cached === keys.primaryKey ? keys.secondaryKey : keys.primaryKey;
    const restoreEnv = useEmulatorIdentity(stack.emulators);
    const written = await standInVaultClient(stack.emulators.url)
      .setSecret('demo-key-endpoint-key', other)
      .finally(restoreEnv);
    const event = secretEvent(
      'SecretNewVersionCreated',
      stack.emulators.url,
      'demo-key-endpoint-key',
      written.properties.version ?? '',
    );

    // Act
    const delivered = await deliver(stack.functionsUrl, stack.defaultKey, [event]);
    const after = await keyToken();

    // Assess: without the event, the cached key would be served until half the grace period.
    expect(delivered).toEqual([200]);
    expect(after.status).toBe(200);
    expect(after.body.accessToken).toBe(other);
  });

  it('vends an AML endpoint token over OAuth client credentials that the scoring URI accepts', async () => {
    // Act
    const response = await oauthToken('demo-token-endpoint');
    const body = (await response.json()) as { access_token: string; token_type: string };
    const scored = await score('demo-token-endpoint', body.access_token);

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(body.token_type).toBe('Bearer');
    expect(scored.status).toBe(200);
  });

  it('refuses an endpoint as soon as the admin API disables it, and serves it again once enabled', async () => {
    // Prepare: a vend has cached the endpoint's scope resolution and token.
    const api = `${stack.functionsUrl}/api/manage/endpoints/demo-aad-endpoint`;
    const admin = { 'x-functions-key': stack.masterKey, 'content-type': 'application/json' };
    const vend = () => oauthToken('demo-aad-endpoint');
    expect((await vend()).status).toBe(200);

    // Act: well within the 30 s a resolution is otherwise reused.
    const disabled = await fetch(api, { method: 'PATCH', headers: admin, body: '{"enabled":false}' });
    const refused = await vend();
    const enabled = await fetch(api, { method: 'PATCH', headers: admin, body: '{"enabled":true}' });
    const served = await vend();

    // Assess
    expect([disabled.status, enabled.status]).toEqual([200, 200]);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_scope' });
    expect(served.status).toBe(200);
  });

  it('answers a wrong secret with invalid_client and never logs secrets', async () => {
    // Act
    const response = await fetch(`${stack.functionsUrl}/api/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&scope=demo-token-endpoint&client_id=${clientId}&client_secret=wrong`,
    });

    // Assess
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_client' });
    const output = stack.hostOutput();
    expect(output).not.toContain(secret);
    for (const version of stack.emulators.control.secretVersions('demo-key-endpoint-key')) {
      expect(output).not.toContain(version.value);
    }
  });

  it("answers a malformed escape in a route value with the function's own 4xx, as the real host does", async () => {
    // Act
    const token = await fetch(`${stack.functionsUrl}/api/endpoints/%FF/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(clientId, secret) },
    });
    const manage = await fetch(`${stack.functionsUrl}/api/manage/endpoints/%FF`, {
      headers: { 'x-functions-key': stack.masterKey },
    });

    // Assess
    expect(token.status).toBe(400);
    expect(await token.json()).toMatchObject({ code: 'ScopeMalformed' });
    expect(manage.status).toBe(404);
    expect(await manage.json()).toMatchObject({
      code: 'ENDPOINT_NOT_FOUND',
      detail: 'Endpoint %FF is not registered.',
    });
    expect(stack.hostOutput()).not.toContain('unexpected error serving a request');
  });

  it("writes a stopping instance's last audit decisions before it exits", async () => {
    // Prepare: a second instance; its only decision is a refusal of a scope no one else asks for
    const instance = await stack.spawnHost();
    const scope = `shutdown-probe-${Date.now()}`;

    // Act: stop it (SIGTERM, as on scale-in) right after the decision, well inside the audit's 1-s flush
    const refused = await fetch(`${instance.url}/api/oauth2/token`, {
      method: 'POST',
      headers: {
        authorization: basicAuth(clientId, secret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: `grant_type=client_credentials&scope=${scope}`,
    });
    await instance.stop();

    // Assess
    expect(refused.status).toBe(400);
    const audit = TableClient.fromConnectionString(stack.storageConnectionString, 'amlcbBrokerAudit', {
      allowInsecureConnection: true,
    });
    const rows: Array<Record<string, unknown>> = [];
    for await (const row of audit.listEntities({ queryOptions: { filter: odata`scope eq ${scope}` } }))
      rows.push(row);
    expect(rows).toEqual([
      expect.objectContaining({ clientId, scope, outcome: 'denied', reason: 'ScopeNotAllowed', count: 1 }),
    ]);
  });

  it('publishes an event held on the retry queue through the queue function, with its first id', async () => {
    // Prepare: what the publisher leaves on EVENTS_RETRY_QUEUE when the topic was down at the first try
    const held: PublishRetry = {
      eventId: `held-${Date.now()}`,
      event: {
        type: 'KeyRotated',
        endpointId: 'demo-key-endpoint',
        secretName: 'demo-key-endpoint-key',
        time: new Date().toISOString(),
      },
      attempt: 2,
      firstFailedAt: new Date().toISOString(),
    };
    const queue = new QueueClient(stack.storageConnectionString, 'event-publish-retries');

    // Act
    await new StorageJsonQueue<PublishRetry>({ client: queue, sleep }).enqueue(held);

    // Assess
    const reported = `EventPublishRetry => run => sent type=KeyRotated eventId=${held.eventId} attempt=2`;
    await waitFor('the host to publish the held event', () => stack.hostOutput().includes(reported), {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    expect(stack.hostOutput()).toContain(reported);
    expect(stack.topic.received().filter((e) => e.id === held.eventId)).toEqual([
      expect.objectContaining({ type: 'aml-credential-broker.KeyRotated', subject: 'demo-key-endpoint-key' }),
    ]);
  });
});
