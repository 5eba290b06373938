import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadConfig, SETTINGS } from '../../shared/config';
import { ConfigError } from '../../shared/errors';

const validEnv = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
  BROKER_SECRET_PEPPER: 'p'.repeat(40),
};

function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('loadConfig accepted an invalid environment');
}

describe('Function: loadConfig', () => {
  it('applies documented defaults to a minimal environment', () => {
    // Act
    const config = loadConfig(validEnv);

    // Assess
    expect(config.keyVault).toEqual({
      url: 'https://myvault.vault.azure.net',
      disableChallengeResourceVerification: false,
    });
    expect(config.arm.endpoint).toBe('https://management.azure.com');
    expect(config.rotation.defaultGraceHours).toBe(25);
    expect(config.rotation.schedule).toBe('0 */15 * * * *');
    expect(config.tables.journal).toBe('amlcbRotationJournal');
    expect(config.storage).toEqual({
      kind: 'connectionString',
      connectionString: 'UseDevelopmentStorage=true',
    });
  });

  it('returns a frozen object so no one changes settings after start-up', () => {
    const config = loadConfig(validEnv);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.rotation)).toBe(true);
  });

  it('names the bound a number setting is outside of, for whole and decimal numbers alike', () => {
    // Act
    const error = configErrorOf({
      ...validEnv,
      ROTATION_LEASE_SECONDS: '5',
      ROTATION_TEST_TIMEOUT_SECONDS: '2.5',
      BROKER_REFRESH_FRACTION: '0.99',
      ROTATION_GRACE_HOURS: '-1',
    });

    // Assess
    expect(error.message).toContain('ROTATION_LEASE_SECONDS: must be at least 10, got 5');
    expect(error.message).toContain('ROTATION_TEST_TIMEOUT_SECONDS: must be a whole number, got "2.5"');
    expect(error.message).toContain('BROKER_REFRESH_FRACTION: must be at most 0.95, got 0.99');
    expect(error.message).toContain('ROTATION_GRACE_HOURS: must be at least 0, got -1');
  });

  it('reads numbers as decimals and URLs as parsed, refusing what a typo or a pasted credential makes of them', () => {
    // Act
    const hex = configErrorOf({ ...validEnv, ROTATION_PERIOD_HOURS: '0x10' });
    const huge = configErrorOf({ ...validEnv, ROTATION_LEASE_SECONDS: '1'.repeat(30) });
    const withPassword = configErrorOf({
      ...validEnv,
      KEY_VAULT_URL: 'https://me:hunter2@v.vault.azure.net',
    });
    const withQuery = configErrorOf({ ...validEnv, ARM_ENDPOINT: 'https://management.azure.com/?x=1' });
    const config = loadConfig({
      ...validEnv,
      ROTATION_PERIOD_HOURS: '26.5',
      KEY_VAULT_URL: 'https:MyVault.vault.azure.net/',
    });

    // Assess
    expect(hex.message).toContain('ROTATION_PERIOD_HOURS: must be a number, got "0x10"');
    expect(huge.message).toContain('ROTATION_LEASE_SECONDS: must be a whole number');
    expect(withPassword.message).toContain('KEY_VAULT_URL: must not hold a user name or password');
    expect(withPassword.message).not.toContain('hunter2');
    expect(withQuery.message).toContain('ARM_ENDPOINT: must have no query string or fragment');
    expect(config.rotation.defaultPeriodHours).toBe(26.5);
    expect(config.keyVault.url).toBe('https://myvault.vault.azure.net');
  });

  it('refuses a plain-http Event Grid topic, to which neither a key nor the managed identity can publish', () => {
    // Prepare: the SDK refuses to send the topic key over http (allowInsecureConnection is off), and
    // the bearer policy refuses any non-https URL; every publish would fail and be held for a day.
    const env = { ...validEnv, EVENT_GRID_TOPIC_ENDPOINT: 'http://127.0.0.1:8080/api/events' };

    // Act
    const error = configErrorOf(env);

    // Assess
    expect(error.issues).toEqual([
      { field: 'EVENT_GRID_TOPIC_ENDPOINT', message: 'must use https:, got "http:"' },
    ]);
  });

  it('takes ADMIN_PUBLIC_BASE_URL with a path and without its trailing slash, and refuses one with a query', () => {
    // Act
    const config = loadConfig({ ...validEnv, ADMIN_PUBLIC_BASE_URL: 'https://APIM.contoso.com/aml-broker/' });
    const error = configErrorOf({ ...validEnv, ADMIN_PUBLIC_BASE_URL: 'https://apim.contoso.com/x?code=k' });

    // Assess
    expect(config.admin.publicBaseUrl).toBe('https://apim.contoso.com/aml-broker');
    expect(loadConfig(validEnv).admin).toEqual({});
    expect(error.issues).toEqual([
      { field: 'ADMIN_PUBLIC_BASE_URL', message: 'must have no query string or fragment' },
    ]);
  });

  it("refuses a KEY_VAULT_URL with a path, such as a secret's URI, under which every vault call answers 404", () => {
    // Act
    const error = configErrorOf({
      ...validEnv,
      KEY_VAULT_URL: 'https://myvault.vault.azure.net/secrets/broker-secret-pepper',
    });

    // Assess
    expect(error.issues.map((i) => i.field)).toEqual(['KEY_VAULT_URL']);
    expect(error.message).toContain("KEY_VAULT_URL: must be the vault's address alone");
  });

  it('refuses an Event Grid topic key without the topic it belongs to, which would silently send nothing', () => {
    // Act
    const error = configErrorOf({ ...validEnv, EVENT_GRID_TOPIC_KEY: 'k'.repeat(44) });

    // Assess
    expect(error.issues).toEqual([
      {
        field: 'EVENT_GRID_TOPIC_ENDPOINT',
        message: 'is required when EVENT_GRID_TOPIC_KEY is set (without it no event is sent)',
      },
    ]);
    expect(error.message).not.toContain('kkkk');
  });

  it('allows skipping the Key Vault challenge check only for a vault on a loopback address', () => {
    // Act
    const remote = configErrorOf({ ...validEnv, KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true' });
    const local = loadConfig({
      ...validEnv,
      KEY_VAULT_URL: 'https://127.0.0.1:8443',
      KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
    });

    // Assess
    expect(remote.issues).toEqual([
      {
        field: 'KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION',
        message:
          'may be true only for a Key Vault stand-in on a loopback address, not for myvault.vault.azure.net',
      },
    ]);
    expect(local.keyVault.disableChallengeResourceVerification).toBe(true);
  });

  it('names every missing or malformed setting in one error', () => {
    // Act
    const error = configErrorOf({ KEY_VAULT_URL: 'http://plain.example', ROTATION_PERIOD_HOURS: 'soon' });

    // Assess
    const fields = error.issues.map((i) => i.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'KEY_VAULT_URL',
        'ROTATION_PERIOD_HOURS',
        'BROKER_SECRET_PEPPER',
        'AzureWebJobsStorage',
      ]),
    );
    expect(error.message).toContain('KEY_VAULT_URL: must use https:');
    expect(error.message).toContain('ROTATION_PERIOD_HOURS: must be a number, got "soon"');
  });

  it('keeps the test step short enough for a rotation to end within host.json functionTimeout', () => {
    // Prepare: a run that outlives functionTimeout is not failed but cut off: the host restarts the Node
    // worker, which ends every invocation in it (other rotations, token requests), and the job's retry
    // finds the lease still held. Besides the test step, a run waits at ARM's write gate up to 60 s for
    // each of its two writes (listKeys to plan, regenerateKeys).
    const hostJson = JSON.parse(readFileSync(join(__dirname, '../../host.json'), 'utf8')) as {
      functionTimeout: string;
    };
    const [h = 0, m = 0, s = 0] = hostJson.functionTimeout.split(':').map(Number);
    const functionTimeoutSeconds = (h * 60 + m) * 60 + s;
    const longest = functionTimeoutSeconds - 2 * 60;

    // Act
    const accepted = loadConfig({ ...validEnv, ROTATION_TEST_TIMEOUT_SECONDS: String(longest) });
    const error = configErrorOf({ ...validEnv, ROTATION_TEST_TIMEOUT_SECONDS: String(longest + 1) });

    // Assess
    expect(accepted.rotation.testTimeoutSeconds).toBe(longest);
    expect(error.message).toContain(`ROTATION_TEST_TIMEOUT_SECONDS: must be at most ${longest}`);
  });

  it('caps BROKER_MIN_TOKEN_LIFETIME_SECONDS at the 300 s before its end at which the identity library renews a token', () => {
    // Prepare: MSAL hands out its cached managed-identity token until 300 s before it expires (a token of
    // 2 h or less gets no earlier refresh), so the broker asking for more would refuse that same token.

    // Act
    const accepted = loadConfig({ ...validEnv, BROKER_MIN_TOKEN_LIFETIME_SECONDS: '300' });
    const error = configErrorOf({ ...validEnv, BROKER_MIN_TOKEN_LIFETIME_SECONDS: '301' });

    // Assess
    expect(accepted.broker.minTokenLifetimeSeconds).toBe(300);
    expect(error.message).toContain('BROKER_MIN_TOKEN_LIFETIME_SECONDS: must be at most 300, got 301');
  });

  it('reads AzureFunctionsJobHost__functionTimeout, the app setting that overrides host.json functionTimeout in Azure', () => {
    // Act
    const override = loadConfig({
      ...validEnv,
      AzureFunctionsJobHost__functionTimeout: '00:05:00',
      ROTATION_TEST_TIMEOUT_SECONDS: '180',
    });
    const noLimit = loadConfig({ ...validEnv, AzureFunctionsJobHost__functionTimeout: '-1' });
    const unset = loadConfig(validEnv);
    const error = configErrorOf({ ...validEnv, AzureFunctionsJobHost__functionTimeout: 'ten minutes' });
    const tooShort = configErrorOf({ ...validEnv, AzureFunctionsJobHost__functionTimeout: '00:01:00' });
    const noTime = configErrorOf({ ...validEnv, AzureFunctionsJobHost__functionTimeout: '00:61:00' });

    // Assess: a limit of its own; none (-1) and unset leave host.json's
    expect(override.rotation.functionTimeoutMs).toBe(300_000);
    expect(noLimit.rotation.functionTimeoutMs).toBeUndefined();
    expect(unset.rotation.functionTimeoutMs).toBeUndefined();
    expect(error.issues.map((i) => i.field)).toEqual(['AzureFunctionsJobHost__functionTimeout']);
    expect(error.message).toContain('hh:mm:ss');
    expect(tooShort.message).toContain('AzureFunctionsJobHost__functionTimeout: must be at least 00:02:00');
    expect(noTime.issues.map((i) => i.field)).toEqual(['AzureFunctionsJobHost__functionTimeout']);
  });

  it('keeps the test step short enough for a rotation to end within a functionTimeout lowered by app setting', () => {
    // Act: 5 minutes leave the test step 3 (as 10 leave it 8)
    const accepted = loadConfig({
      ...validEnv,
      AzureFunctionsJobHost__functionTimeout: '00:05:00',
      ROTATION_TEST_TIMEOUT_SECONDS: '180',
    });
    const error = configErrorOf({ ...validEnv, AzureFunctionsJobHost__functionTimeout: '00:05:00' });

    // Assess
    expect(accepted.rotation.testTimeoutSeconds).toBe(180);
    expect(error.issues).toEqual([
      {
        field: 'ROTATION_TEST_TIMEOUT_SECONDS',
        message:
          'must be at most 180 while AzureFunctionsJobHost__functionTimeout allows an invocation 300 s',
      },
    ]);
  });

  it('names ROTATION_SCHEDULE when its six fields are not a schedule the timer can run', () => {
    // Act: a minute past 59, a word, and a date that never comes
    const errors = ['0 75 * * * *', '0 */15 * * * often', '0 0 0 31 2 *'].map((schedule) =>
      configErrorOf({ ...validEnv, ROTATION_SCHEDULE: schedule }),
    );

    // Assess
    for (const error of errors) expect(error.issues.map((i) => i.field)).toEqual(['ROTATION_SCHEDULE']);
    expect(errors[0]?.message).toContain('ROTATION_SCHEDULE: Invalid minute field "75": 75 is outside 0-59');
    expect(errors[1]?.message).toContain('ROTATION_SCHEDULE: Invalid day-of-week field "often"');
    expect(errors[2]?.message).toContain(
      'ROTATION_SCHEDULE: Schedule "0 0 0 31 2 *" has no occurrence within 50 years',
    );
  });

  it('refuses a queue name the Functions host keeps no poison queue for, so failing jobs do reach <queue>-poison', () => {
    // Prepare: the queues extension uses `<queue>-poison` only when that name is valid (63 characters at
    // most) and the queue is not itself a poison queue; otherwise a failing message is never moved.
    const longest = `q${'a'.repeat(54)}1`;

    // Act
    const errors = [`q${'a'.repeat(55)}1`, 'rotation-jobs-poison'].map((name) =>
      configErrorOf({ ...validEnv, ROTATION_QUEUE: name, EVENTS_RETRY_QUEUE: name }),
    );
    const config = loadConfig({ ...validEnv, ROTATION_QUEUE: longest });

    // Assess
    for (const error of errors)
      expect(error.issues.map((i) => i.field)).toEqual(['ROTATION_QUEUE', 'EVENTS_RETRY_QUEUE']);
    expect(config.rotation.queue).toBe(longest);
  });

  it('rejects contradictory rotation periods', () => {
    const error = configErrorOf({ ...validEnv, ROTATION_PERIOD_HOURS: '20', ROTATION_GRACE_HOURS: '25' });
    expect(error.issues).toEqual([
      { field: 'ROTATION_PERIOD_HOURS', message: 'must be longer than ROTATION_GRACE_HOURS (25)' },
    ]);
  });

  it('caps the default periods at the ten years an endpoint may be registered with', () => {
    // Act
    const error = configErrorOf({
      ...validEnv,
      ROTATION_PERIOD_HOURS: '1e300',
      ROTATION_GRACE_HOURS: '87601',
      ROTATION_MIN_GRACE_HOURS: '87601',
    });

    // Assess
    expect(error.issues.map((i) => i.field).sort()).toEqual([
      'ROTATION_GRACE_HOURS',
      'ROTATION_MIN_GRACE_HOURS',
      'ROTATION_PERIOD_HOURS',
    ]);
    expect(error.message).toContain('ROTATION_PERIOD_HOURS: must be at most 87600, got 1e+300');
  });

  it('rejects a grace period below the minimum', () => {
    const error = configErrorOf({ ...validEnv, ROTATION_GRACE_HOURS: '2' });
    expect(error.issues[0]?.field).toBe('ROTATION_GRACE_HOURS');
  });

  it('never echoes the value of a secret setting', () => {
    const error = configErrorOf({ ...validEnv, BROKER_SECRET_PEPPER: 'short-secret-value' });
    expect(error.message).not.toContain('short-secret-value');
  });

  it('takes a long pepper that spans lines, as `openssl rand -base64 64` prints it', () => {
    // Prepare: openssl wraps base64 at 64 characters, so a longer pepper arrives with a line break.
    const pepper = `${'a'.repeat(64)}\n${'b'.repeat(24)}`;

    // Act
    const config = loadConfig({ ...validEnv, BROKER_SECRET_PEPPER: pepper });

    // Assess
    expect(config.broker.secretPepper).toBe(pepper);
  });

  it('refuses a Key Vault reference the platform left unresolved, without echoing it', () => {
    // Prepare: App Service hands the app the reference text itself when it cannot read the secret
    // (role not yet propagated, secret missing), and that text is longer than 32 characters.
    const reference =
      '@Microsoft.KeyVault(SecretUri=https://amlcb-kv.vault.azure.net/secrets/broker-secret-pepper)';

    // Act
    const error = configErrorOf({
      ...validEnv,
      BROKER_SECRET_PEPPER: reference,
      EVENT_GRID_TOPIC_KEY: reference,
    });

    // Assess
    expect(error.issues.map((i) => i.field)).toEqual(['BROKER_SECRET_PEPPER', 'EVENT_GRID_TOPIC_KEY']);
    expect(error.message).toContain(
      'BROKER_SECRET_PEPPER: is a Key Vault reference the platform did not resolve',
    );
    expect(error.message).not.toContain('amlcb-kv');
  });

  it('refuses an AZURE_CLIENT_ID that is not a client id, which no identity endpoint would answer', () => {
    // Act: the identity's name, and its resource id, both common mix-ups for its client id
    const errors = [
      'amlcb-identity',
      '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id',
    ].map((value) => configErrorOf({ ...validEnv, AZURE_CLIENT_ID: value }));
    const config = loadConfig({ ...validEnv, AZURE_CLIENT_ID: ' 6E1F2A3B-4C5D-4E6F-8A9B-0C1D2E3F4A5B ' });

    // Assess
    for (const error of errors) expect(error.issues.map((i) => i.field)).toEqual(['AZURE_CLIENT_ID']);
    expect(errors[0]?.message).toContain('AZURE_CLIENT_ID: must be a client id (a GUID');
    expect(config.identity).toEqual({ clientId: '6E1F2A3B-4C5D-4E6F-8A9B-0C1D2E3F4A5B' });
  });

  it('refuses an App Configuration reference the platform left unresolved, without echoing it', () => {
    // Prepare: App Service resolves these as it does Key Vault references, and passes the text through
    // the same way when it cannot; as a pepper it would pass the 32-character rule.
    const reference =
      '@Microsoft.AppConfiguration(Endpoint=https://amlcb-config.azconfig.io; Key=broker-secret-pepper)';

    // Act
    const error = configErrorOf({ ...validEnv, BROKER_SECRET_PEPPER: reference });

    // Assess
    expect(error.issues.map((i) => i.field)).toEqual(['BROKER_SECRET_PEPPER']);
    expect(error.message).toContain(
      'BROKER_SECRET_PEPPER: is an App Configuration reference the platform did not resolve',
    );
    expect(error.message).not.toContain('amlcb-config');
  });

  it('refuses an AzureWebJobsStorage that is no connection string, without echoing it', () => {
    // Prepare: the account name in place of the connection string (the two settings differ by a suffix),
    // which the Tables SDK would meet with a TypeError on every call
    const { AzureWebJobsStorage: _unused, ...rest } = validEnv;

    // Act
    const error = configErrorOf({ ...rest, AzureWebJobsStorage: 'mystorageaccount' });
    const accepted = [
      'UseDevelopmentStorage=true',
      'DefaultEndpointsProtocol=https;AccountName=mystorage;AccountKey=a2V5;EndpointSuffix=core.windows.net',
      'TableEndpoint=https://s.table.core.windows.net/;QueueEndpoint=https://s.queue.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sig=x',
    ].map((connectionString) => loadConfig({ ...rest, AzureWebJobsStorage: connectionString }).storage.kind);

    // Assess
    expect(error.issues.map((i) => i.field)).toEqual(['AzureWebJobsStorage']);
    expect(error.message).toContain('AzureWebJobsStorage: must be a storage connection string');
    expect(error.message).not.toContain('mystorageaccount');
    expect(accepted).toEqual(['connectionString', 'connectionString', 'connectionString']);
  });

  it('selects identity-based storage when only the account name is set', () => {
    const { AzureWebJobsStorage: _unused, ...rest } = validEnv;
    const config = loadConfig({ ...rest, AzureWebJobsStorage__accountName: 'mystorage' });
    expect(config.storage).toEqual({ kind: 'identity', accountName: 'mystorage' });
  });

  it('documents every setting with a description', () => {
    for (const setting of Object.values(SETTINGS)) {
      expect(setting.description.length).toBeGreaterThan(10);
    }
  });
});

describe('File: local.settings.sample.json', () => {
  it('lists every setting the app reads', () => {
    // Prepare
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sample = require('../../local.settings.sample.json') as { Values: Record<string, string> };

    // Assess
    for (const setting of Object.values(SETTINGS)) expect(Object.keys(sample.Values)).toContain(setting.name);
  });

  it('is a valid configuration once the three settings the README names are filled in', () => {
    // Prepare: README, "Running against real Azure", step 3.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sample = require('../../local.settings.sample.json') as { Values: Record<string, string> };

    // Act
    const config = loadConfig({
      ...sample.Values,
      KEY_VAULT_URL: 'https://myvault.vault.azure.net',
      AzureWebJobsStorage:
        'DefaultEndpointsProtocol=https;AccountName=mystorage;EndpointSuffix=core.windows.net',
      BROKER_SECRET_PEPPER: 'p'.repeat(40),
    });

    // Assess
    expect(config.keyVault.url).toBe('https://myvault.vault.azure.net');
    expect(config.identity).toEqual({});
    expect(config.events.topicEndpoint).toBeUndefined();
  });

  it('makes a copied placeholder fail start-up with a clear message', () => {
    const error = configErrorOf({
      ...validEnv,
      AZURE_CLIENT_ID: '<Client id of a user-assigned managed identity>',
    });
    expect(error.issues).toEqual([
      {
        field: 'AZURE_CLIENT_ID',
        message: 'still holds the placeholder from local.settings.sample.json; set a value or remove it',
      },
    ]);
  });
});
