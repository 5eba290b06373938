import { ScopeNotAllowedError } from '../../../shared/broker/errors';
import { parseScope } from '../../../shared/broker/scope';
import { ScopeResolver, type ScopeResolverOptions } from '../../../shared/broker/ScopeResolver';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { DependencyUnavailableError } from '../../../shared/errors';
import { FakeUpstreamSource } from '../../fakes/broker/FakeUpstreamSource';
import { InMemoryEndpointLookup, testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';
import { CapturingLogger } from '../../fakes/capture';
import { FakeClock } from '../../fakes/FakeClock';
import { settle } from '../../support/waitFor';

function setup(overrides: Partial<ScopeResolverOptions> = {}) {
  const clock = new FakeClock();
  const endpoints = new InMemoryEndpointLookup();
  endpoints.add(testEndpoint('demo-token', 'AMLToken'));
  const logger = new CapturingLogger();
  const resolver = new ScopeResolver({
    endpoints,
    clock,
    logger,
    sources: {
      amlToken: new FakeUpstreamSource<ManagedEndpoint>('amlToken', clock),
      managedIdentity: new FakeUpstreamSource<string>('managedIdentity', clock),
      keyVault: new FakeUpstreamSource<ManagedEndpoint>('keyVault', clock),
    },
    ...overrides,
  });
  const scope = parseScope('demo-token');
  if (!scope) throw new Error('test scope did not parse');
  return { clock, endpoints, logger, resolver, scope };
}

describe('Class: ScopeResolver', () => {
  describe('Method: resolve', () => {
    it('reads the registry once for concurrent requests, and once more when the TTL has run out', async () => {
      // Prepare
      const { clock, endpoints, resolver, scope } = setup();

      // Act
      const first = await Promise.all(Array.from({ length: 50 }, () => resolver.resolve(scope)));
      const readsWarm = endpoints.reads;
      clock.advance(31_000);
      await Promise.all(Array.from({ length: 50 }, () => resolver.resolve(scope)));

      // Assess
      expect(first[0]?.cacheKey).toBe('aml:demo-token');
      expect(readsWarm).toBe(1);
      expect(endpoints.reads).toBe(2);
    });

    it('keeps the last answer through a registry outage, reading it once per attempt', async () => {
      // Prepare
      const { clock, endpoints, logger, resolver, scope } = setup();
      await resolver.resolve(scope);
      endpoints.failing = true;
      clock.advance(31_000);

      // Act
      const answers = await Promise.all(Array.from({ length: 20 }, () => resolver.resolve(scope)));

      // Assess
      expect(answers.every((a) => a.cacheKey === 'aml:demo-token')).toBe(true);
      expect(endpoints.reads).toBe(2);
      expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    });

    it('reads a silent registry again a few seconds after a read was given up, not on every request', async () => {
      // Prepare: a resolved scope, then a re-read given up for time 10 s (by the clock) after it started
      const { clock, endpoints, resolver, scope } = setup({ reloadWaitMs: 1, readTimeLimitMs: 20 });
      await resolver.resolve(scope);
      clock.advance(31_000);
      endpoints.answers.close();
      await resolver.resolve(scope);
      clock.advance(10_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const readsAfterGivingUp = endpoints.reads;

      // Act
      clock.advance(1_000);
      await resolver.resolve(scope);
      const readsOneSecondLater = endpoints.reads;
      clock.advance(4_000);
      await resolver.resolve(scope);

      // Assess
      expect(readsOneSecondLater).toBe(readsAfterGivingUp);
      expect(endpoints.reads).toBe(readsAfterGivingUp + 1);
      endpoints.answers.open();
    });

    it('keeps the last answer while a re-read has not answered within reloadWaitMs, then takes the new one', async () => {
      // Prepare
      const { clock, endpoints, resolver, scope } = setup({ reloadWaitMs: 30 });
      await resolver.resolve(scope);
      clock.advance(31_000);
      endpoints.endpoints.delete('demo-token');
      endpoints.answers.close();

      // Act: the request that starts the re-read waits 30 ms; one meanwhile is answered before it
      let firstAnswered = false;
      const first = resolver.resolve(scope).finally(() => (firstAnswered = true));
      const meanwhile = await resolver.resolve(scope);
      const answeredBeforeFirst = !firstAnswered;
      const last = await first;
      endpoints.answers.open();
      await settle();
      const fresh = resolver.resolve(scope);

      // Assess
      expect([last.cacheKey, meanwhile.cacheKey]).toEqual(['aml:demo-token', 'aml:demo-token']);
      expect(answeredBeforeFirst).toBe(true);
      await expect(fresh).rejects.toThrow('The scope names no endpoint the broker serves.');
      expect(endpoints.reads).toBe(2);
    });

    it('gives up a registry read that does not answer within readTimeLimitMs: 503, and no lasting hold', async () => {
      // Prepare: nothing cached, and a registry that has stopped answering
      const { clock, endpoints, resolver, scope } = setup({ readTimeLimitMs: 30 });
      endpoints.answers.close();

      // Act
      const cold = await resolver.resolve(scope).catch((error: unknown) => error);
      endpoints.answers.open();
      clock.advance(5_000);
      const afterwards = await resolver.resolve(scope);

      // Assess
      expect(cold).toBeInstanceOf(DependencyUnavailableError);
      expect(cold).toMatchObject({ dependency: 'endpointRegistry' });
      expect(afterwards.cacheKey).toBe('aml:demo-token');
      expect(endpoints.reads).toBe(2);
    });

    it('gives the registry read up at readTimeLimitMs: its signal fires, so its request ends too', async () => {
      // Prepare: nothing cached, and a registry that has stopped answering
      const { endpoints, resolver, scope } = setup({ readTimeLimitMs: 30 });
      endpoints.answers.close();

      // Act
      const cold = await resolver.resolve(scope).catch((error: unknown) => error);

      // Assess: one read, handed a signal that fired with the 503, naming the time limit
      expect(cold).toBeInstanceOf(DependencyUnavailableError);
      expect(endpoints.signals).toHaveLength(1);
      expect(endpoints.signals[0]?.aborted).toBe(true);
      expect(endpoints.signals[0]?.reason).toMatchObject({ name: 'TimeLimitError', limitMs: 30 });
      endpoints.answers.open();
    });

    it('hands the registry read a signal that does not fire when the registry answers in time', async () => {
      // Prepare
      const { endpoints, resolver, scope } = setup({ readTimeLimitMs: 30 });

      // Act
      const resolved = await resolver.resolve(scope);
      await new Promise((resolve) => setTimeout(resolve, 60));

      // Assess
      expect(resolved.cacheKey).toBe('aml:demo-token');
      expect(endpoints.signals).toHaveLength(1);
      expect(endpoints.signals[0]?.aborted).toBe(false);
    });

    it('answers a cold scope whose read failed with that failure for a few seconds, not a read per request', async () => {
      // Prepare: nothing cached, and a failing registry
      const { clock, endpoints, resolver, scope } = setup({ readTimeLimitMs: 30 });
      endpoints.answers.close();
      await resolver.resolve(scope).catch(() => undefined);
      endpoints.answers.open();

      // Act: 50 requests within the pause, then one after it
      const during = await Promise.all(
        Array.from({ length: 50 }, () => resolver.resolve(scope).catch((error: unknown) => error)),
      );
      const readsDuring = endpoints.reads;
      clock.advance(5_000);
      const after = await resolver.resolve(scope);

      // Assess
      expect(during.every((e) => e instanceof DependencyUnavailableError)).toBe(true);
      expect(readsDuring).toBe(1);
      expect(after.cacheKey).toBe('aml:demo-token');
      expect(endpoints.reads).toBe(2);
    });

    it('reads the registry again after an invalidate, even while a read is running', async () => {
      // Prepare
      const { endpoints, resolver, scope } = setup();
      const running = resolver.resolve(scope);

      // Act
      resolver.invalidate('demo-token');
      endpoints.endpoints.delete('demo-token');
      const after = resolver.resolve(scope);

      // Assess
      await expect(running).resolves.toMatchObject({ cacheKey: 'aml:demo-token' });
      await expect(after).rejects.toThrow('The scope names no endpoint the broker serves.');
      expect(endpoints.reads).toBe(2);
    });

    it('gives an endpoint reinstated or registered again at the same coordinates another origin, a PATCH of its probe none', async () => {
      // Prepare: each origin as a re-read past the TTL finds the endpoint (the token cache serves only its own)
      const { clock, endpoints, resolver, scope } = setup();
      const registered = endpoints.endpoints.get('demo-token')!;
      const originAfter = async (endpoint: ManagedEndpoint) => {
        endpoints.add(endpoint);
        clock.advance(31_000);
        return (await resolver.resolve(scope)).fetch.origin;
      };

      // Act
      const first = await originAfter(registered);
      const patched = await originAfter({
        ...registered,
        probe: { ...registered.probe, path: '/score' },
        updatedAt: '2026-11-02T00:00:00.000Z',
      });
      const reinstated = await originAfter({ ...registered, reinstatedAt: '2026-11-03T00:00:00.000Z' });
      const registeredAgain = await originAfter({ ...registered, createdAt: '2026-11-04T00:00:00.000Z' });

      // Assess
      expect(patched).toBe(first);
      expect(new Set([first, reinstated, registeredAgain]).size).toBe(3);
    });
  });
});

describe('Class: ScopeResolver (answers from memory)', () => {
  describe('Method: resolveCached', () => {
    it('answers what resolve cached, without a read, until the TTL runs out; then leaves the read to resolve', async () => {
      // Prepare
      const { clock, endpoints, resolver, scope } = setup();
      const before = resolver.resolveCached(scope, clock.now());
      const resolved = await resolver.resolve(scope);

      // Act
      const warm = resolver.resolveCached(scope, clock.now());
      const expired = resolver.resolveCached(scope, clock.now() + 30_000);

      // Assess
      expect(before).toBeUndefined();
      expect(warm).toBe(resolved);
      expect(expired).toBeUndefined();
      expect(endpoints.reads).toBe(1);
    });

    it('throws the refusal cached for a scope, as resolve does', async () => {
      // Prepare
      const { clock, endpoints, resolver } = setup();
      const unknown = parseScope('no-such-endpoint')!;
      await expect(resolver.resolve(unknown)).rejects.toThrow(ScopeNotAllowedError);

      // Act
      const cached = () => resolver.resolveCached(unknown, clock.now());

      // Assess
      expect(cached).toThrow(ScopeNotAllowedError);
      expect(endpoints.reads).toBe(1);
    });
  });
});

describe('Class: ScopeResolver (an endpoint whose row cannot be read)', () => {
  it('refuses its scope as one it does not serve, not 503: nothing changes until a person mends the row', async () => {
    // Prepare
    const { endpoints, logger, resolver, scope } = setup();
    endpoints.unreadable.set('demo-token', 'its endpoint column is not JSON');

    // Act
    const answer = await resolver.resolve(scope).catch((e: unknown) => e);

    // Assess
    expect(answer).toBeInstanceOf(ScopeNotAllowedError);
    expect(answer).not.toBeInstanceOf(DependencyUnavailableError);
    expect((answer as Error).message).toBe(
      'The endpoint this scope names cannot be served until an operator repairs its registration.',
    );
    // Its own reason, so the audit trail and TokenDenied tell a broken registration from a disabled one
    expect((answer as ScopeNotAllowedError).code).toBe('EndpointRecordUnreadable');
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'resolve => endpoint row unreadable, scope refused',
      props: {
        scope: 'demo-token',
        code: 'ENDPOINT_RECORD_UNREADABLE',
        why: 'its endpoint column is not JSON',
      },
    });
  });

  it('stops serving the last answer once the row turns unreadable (the edit may have disabled it), reading it once per TTL', async () => {
    // Prepare: a scope served, then its row edited by hand into something unreadable
    const { clock, endpoints, resolver, scope } = setup();
    await resolver.resolve(scope);
    endpoints.unreadable.set('demo-token', 'its endpoint column is not JSON');
    clock.advance(31_000);

    // Act: the request that starts the re-read waits for it (others meanwhile get the last answer at once)
    const first = await resolver.resolve(scope).catch((e: unknown) => e);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => resolver.resolve(scope).catch((e: unknown) => e)),
    );
    clock.advance(10_000);
    const later = await resolver.resolve(scope).catch((e: unknown) => e);

    // Assess
    for (const answer of [first, ...answers, later]) expect(answer).toBeInstanceOf(ScopeNotAllowedError);
    expect(endpoints.reads).toBe(2);
  });
});

describe('Class: ScopeResolver (an endpoint a newer version registered)', () => {
  it.each([
    ['a kind', { kind: 'managedComputeEndpoint', authMode: 'AMLToken' }],
    ['a kind', { kind: 'managedComputeEndpoint', authMode: 'AADToken' }],
    ['a kind', { kind: 'managedComputeEndpoint', authMode: 'Key', brokerKeyAccess: true }],
    ['an auth mode', { authMode: 'ManagedIdentityToken' }],
  ])(
    'refuses the scope of an endpoint whose %s this version does not know, as it refuses an unknown one',
    async (_what, newer) => {
      // Prepare: a newer version, deployed beside this one, registered the endpoint
      const { endpoints, resolver, scope } = setup();
      endpoints.add({ ...testEndpoint('demo-token', 'Key'), ...newer } as unknown as ManagedEndpoint);

      // Act
      const resolved = resolver.resolve(scope);

      // Assess
      await expect(resolved).rejects.toThrow('The scope names no endpoint the broker serves.');
    },
  );
});

describe('Class: ScopeResolver (a registration an ENDPOINTS_FILE entry clashes with)', () => {
  const keyScope = parseScope('row-key')!;

  it('refuses the key of a Key registration whose secret the file declares for another endpoint, naming both ids in a warning and neither to the client', async () => {
    // Prepare
    const { endpoints, logger, resolver } = setup();
    endpoints.add(testEndpoint('row-key', 'Key', { brokerKeyAccess: true, secretName: 'shared' }));
    endpoints.clashes.set('row-key', { entry: 'file-entry', shares: 'secret' });

    // Act
    const answer = await resolver.resolve(keyScope).catch((e: unknown) => e);

    // Assess: 403 invalid_scope under its own code, as an unreadable registration is
    expect(answer).toBeInstanceOf(ScopeNotAllowedError);
    expect((answer as ScopeNotAllowedError).code).toBe('EndpointDeclaredInFile');
    expect((answer as ScopeNotAllowedError).status).toBe(403);
    expect((answer as Error).message).toBe(
      "This endpoint's key cannot be brokered until an operator gives its registration a Key Vault secret of its own.",
    );
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'resolve => Key Vault secret declared in ENDPOINTS_FILE for another endpoint, key refused',
        props: { endpointId: 'row-key', alsoRegisteredAs: 'file-entry' },
      },
    ]);
  });

  it("refuses the key of a registration at one entry's Azure ML endpoint that holds another entry's secret: that secret holds the other endpoint's key", async () => {
    // Prepare
    const { endpoints, logger, resolver } = setup();
    endpoints.add(testEndpoint('row-key', 'Key', { brokerKeyAccess: true, secretName: 'entry-y-key' }));
    endpoints.clashes.set('row-key', { entry: 'entry-x', shares: 'endpoint', secretOf: 'entry-y' });

    // Act
    const answer = await resolver.resolve(keyScope).catch((e: unknown) => e);

    // Assess
    expect((answer as ScopeNotAllowedError).code).toBe('EndpointDeclaredInFile');
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'resolve => Key Vault secret declared in ENDPOINTS_FILE for another endpoint, key refused',
        props: { endpointId: 'row-key', alsoRegisteredAs: 'entry-y' },
      },
    ]);
  });

  it("serves registrations at an entry's Azure ML endpoint (their key or token is that endpoint's), and token registrations sharing an entry's secret (no key is read)", async () => {
    // Prepare
    const { endpoints, logger, resolver } = setup();
    endpoints.add(testEndpoint('row-key', 'Key', { brokerKeyAccess: true }));
    endpoints.clashes.set('row-key', { entry: 'file-entry', shares: 'endpoint' });
    for (const [id, authMode] of [
      ['row-aml', 'AMLToken'],
      ['row-aad', 'AADToken'],
    ] as const) {
      endpoints.add(testEndpoint(id, authMode));
      endpoints.clashes.set(id, { entry: 'file-entry', shares: 'secret' });
    }

    // Act
    const resolved = await Promise.all(
      ['row-key', 'row-aml', 'row-aad'].map((id) => resolver.resolve(parseScope(id)!)),
    );

    // Assess
    expect(resolved.map((r) => r.cacheKey)).toEqual([
      'key:row-key',
      'aml:row-aml',
      'mi:https://ml.azure.com',
    ]);
    expect(logger.lines).toEqual([]);
  });

  it('asks only as the scope is built, for Key registrations with key access: a cached vend and token scopes ask nothing', async () => {
    // Prepare
    const { clock, endpoints, resolver, scope } = setup();
    endpoints.add(testEndpoint('row-key', 'Key', { brokerKeyAccess: true }));
    endpoints.add(testEndpoint('no-access', 'Key'));

    // Act
    await Promise.all(Array.from({ length: 20 }, () => resolver.resolve(keyScope)));
    await resolver.resolve(scope);
    await resolver.resolve(parseScope('no-access')!).catch(() => undefined);
    const withinTtl = endpoints.clashQuestions;
    clock.advance(31_000);
    await resolver.resolve(keyScope);

    // Assess
    expect(withinTtl).toBe(1);
    expect(endpoints.clashQuestions).toBe(2);
  });

  it('stops serving a Key scope once the file declares its secret, at the next read of the registration', async () => {
    // Prepare: served, then a deployment's ENDPOINTS_FILE declares its secret for another endpoint
    const { clock, endpoints, resolver } = setup();
    endpoints.add(testEndpoint('row-key', 'Key', { brokerKeyAccess: true }));
    await resolver.resolve(keyScope);
    endpoints.clashes.set('row-key', { entry: 'file-entry', shares: 'secret' });
    clock.advance(31_000);

    // Act
    const answer = await resolver.resolve(keyScope).catch((e: unknown) => e);

    // Assess
    expect((answer as ScopeNotAllowedError).code).toBe('EndpointDeclaredInFile');
  });
});
