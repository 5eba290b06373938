import { createHash } from 'node:crypto';

import {
  ClientNotAuthorizedError,
  ClientRateLimitedError,
  InvalidClientError,
  MalformedScopeError,
  ScopeNotAllowedError,
  UpstreamUnavailableError,
} from '../../../shared/broker/errors';
import type { VendResult } from '../../../shared/broker/TokenBroker';
import { DependencyUnavailableError } from '../../../shared/errors';
import { buildTestBroker, type TestClient } from '../../fakes/broker/buildTestBroker';
import { testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';
import { malformedScope, withheldScope } from '../../support/recordedScope';
import { settle } from '../../support/waitFor';

describe('Class: TokenBroker', () => {
  describe('Method: vend', () => {
    it('maps an AMLToken endpoint scope (with or without /.default) to the ARM endpoint token', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient({ allowedScopes: ['demo-token'] });

      // Act
      const a = await t.module.broker.vend({
        protocol: 'oauth',
        clientId: c.id,
        secret: c.primary,
        scope: 'demo-token',
      });
      const b = await t.module.broker.vend({
        protocol: 'oauth',
        clientId: c.id,
        secret: c.secondary,
        scope: 'demo-token/.default',
      });

      // Assess
      expect(a.token.value).toBe('amlToken-token-1');
      expect(b.token.value).toBe('amlToken-token-1');
      expect(a.scope).toBe('demo-token');
      expect(t.aml.calls).toBe(1);
      expect(t.aml.targets[0]?.arm.name).toBe('demo-token');
    });

    it('maps ml.azure.com and AADToken endpoints to one managed-identity token for https://ml.azure.com', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient({ allowedScopes: ['https://ml.azure.com', 'demo-aad'] });

      // Act
      const raw = await t.module.broker.vend({
        protocol: 'msi',
        clientId: c.id,
        secret: c.primary,
        scope: 'https://ml.azure.com/.default',
      });
      const viaEndpoint = await t.module.broker.vend({
        protocol: 'msi',
        clientId: c.id,
        secret: c.primary,
        scope: 'demo-aad',
      });

      // Assess
      expect(raw.token.value).toBe(viaEndpoint.token.value);
      expect(t.mi.calls).toBe(1);
      expect(t.mi.targets).toEqual(['https://ml.azure.com']);
    });

    it('uses the client’s only allowed scope when none is given, and refuses when it has several', async () => {
      // Prepare
      const t = buildTestBroker();
      const one = await t.addClient({ allowedScopes: ['demo-token'] });
      const two = await t.addClient({ allowedScopes: ['demo-token', 'demo-aad'] });

      // Act
      const vended = await t.module.broker.vend({
        protocol: 'oauth',
        clientId: one.id,
        secret: one.primary,
        scope: undefined,
      });
      const refused = t.module.broker.vend({
        protocol: 'oauth',
        clientId: two.id,
        secret: two.primary,
        scope: undefined,
      });

      // Assess
      expect(vended.scope).toBe('demo-token');
      await expect(refused).rejects.toThrow(ScopeNotAllowedError);
    });

    it('refuses a scope that is not on the allow-list, malformed, or several at once', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient({ allowedScopes: ['demo-token'] });
      const vend = (scope: string) =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope });

      // Act / Assess
      await expect(vend('demo-aad')).rejects.toThrow(ScopeNotAllowedError);
      await expect(vend('https://management.azure.com')).rejects.toThrow(ScopeNotAllowedError);
      await expect(vend('Not A Scope!')).rejects.toThrow(ScopeNotAllowedError);
      await expect(vend('demo-token demo-aad')).rejects.toThrow('exactly one scope');
      expect(t.aml.calls + t.mi.calls).toBe(0);
    });

    it('tells a scope that does not parse apart from a well-formed one it refuses, by class and code', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient({ allowedScopes: ['demo-token'] });
      const refusal = (scope: string) =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope }).then(
          () => undefined,
          (error: unknown) => error,
        );

      // Act
      const malformed = await Promise.all(['Not A Scope!', 'http://ml.azure.com', 'a b'].map(refusal));
      const wellFormed = await Promise.all(['demo-aad', 'https://management.azure.com'].map(refusal));

      // Assess
      for (const error of malformed) expect(error).toBeInstanceOf(MalformedScopeError);
      for (const error of wellFormed) {
        expect(error).toBeInstanceOf(ScopeNotAllowedError);
        expect(error).not.toBeInstanceOf(MalformedScopeError);
      }
      expect([...malformed, ...wellFormed].map((e) => (e as ScopeNotAllowedError).code)).toEqual([
        'ScopeMalformed',
        'ScopeMalformed',
        'ScopeMalformed',
        'ScopeNotAllowed',
        'ScopeNotAllowed',
      ]);
      expect([...malformed, ...wellFormed].map((e) => (e as ScopeNotAllowedError).status)).toEqual([
        400, 400, 400, 403, 403,
      ]);
    });

    it('refuses unknown, disabled and retired endpoints even when allowed', async () => {
      // Prepare
      const t = buildTestBroker();
      t.endpoints.add(testEndpoint('off-ep', 'AMLToken', { enabled: false }));
      t.endpoints.add(testEndpoint('gone-ep', 'AMLToken', { retiredAt: '2026-11-01T00:00:00Z' }));
      const c = await t.addClient({ allowedScopes: ['no-such-ep', 'off-ep', 'gone-ep'] });
      const vend = (scope: string) =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope });

      // Act / Assess
      await expect(vend('no-such-ep')).rejects.toThrow(ScopeNotAllowedError);
      await expect(vend('off-ep')).rejects.toThrow(ScopeNotAllowedError);
      await expect(vend('gone-ep')).rejects.toThrow(ScopeNotAllowedError);
    });

    it("never vends a token carrying the broker's own rights, even to a client whose stored allow-list names it", async () => {
      // Prepare: a record written before the admin API refused such scopes
      const t = buildTestBroker();
      const c = await t.addClient({ allowedScopes: ['demo-token'] });
      const record = t.registry.records.get(c.id);
      if (record)
        t.registry.records.set(c.id, { ...record, allowedScopes: ['https://management.azure.com'] });
      t.clock.advance(31_000);

      // Act
      const refused = t.module.broker.vend({
        protocol: 'oauth',
        clientId: c.id,
        secret: c.primary,
        scope: 'https://management.azure.com/.default',
      });

      // Assess
      await expect(refused).rejects.toThrow(/carry the broker's own rights/);
      expect(t.mi.calls).toBe(0);
    });

    it('hands out a Key endpoint key only when both the endpoint and the client opted in', async () => {
      // Prepare
      const t = buildTestBroker();
      t.endpoints.add(testEndpoint('closed-key', 'Key', { brokerKeyAccess: false }));
      const optedIn = await t.addClient({ allowedScopes: ['demo-key', 'closed-key'], keyAccess: true });
      const notOptedIn = await t.addClient({ allowedScopes: ['demo-key'] });

      // Act
      const key = await t.module.broker.vend({
        protocol: 'amlToken',
        clientId: optedIn.id,
        secret: optedIn.primary,
        scope: 'demo-key',
      });
      const closed = t.module.broker.vend({
        protocol: 'amlToken',
        clientId: optedIn.id,
        secret: optedIn.primary,
        scope: 'closed-key',
      });
      const refused = t.module.broker.vend({
        protocol: 'amlToken',
        clientId: notOptedIn.id,
        secret: notOptedIn.primary,
        scope: 'demo-key',
      });

      // Assess
      expect(key.token.value).toBe('keyVault-token-1');
      await expect(closed).rejects.toThrow('Key access is not enabled for this endpoint');
      await expect(refused).rejects.toThrow('Key access is not enabled for this client');
      expect(t.keys.calls).toBe(1);
    });

    it('rate limits per client with 429 and Retry-After', async () => {
      // Prepare
      const t = buildTestBroker();
      const limited = await t.addClient({ rateLimitPerMinute: 3 });
      const other = await t.addClient();
      const vend = (c: TestClient) =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: 'demo-token' });
      for (let i = 0; i < 3; i++) await vend(limited);

      // Act
      const error = (await vend(limited).catch((e: unknown) => e)) as ClientRateLimitedError;
      const unaffected = await vend(other);
      t.clock.advance(20_001);
      const refilled = await vend(limited);

      // Assess
      expect(error).toBeInstanceOf(ClientRateLimitedError);
      expect(error.status).toBe(429);
      expect(error.retryAfterSeconds).toBe(20);
      expect(unaffected.token.value).toBeDefined();
      expect(refilled.token.value).toBeDefined();
    });

    it('refuses disabled and expired clients, and honours admin changes at once', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();
      const vend = () =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: 'demo-token' });
      await vend();

      // Act
      await t.module.admin.update(c.id, { enabled: false });
      const disabled = vend();
      await t.module.admin.update(c.id, {
        enabled: true,
        expiresAt: new Date(t.clock.now() - 1000).toISOString(),
      });
      const expired = vend();

      // Assess
      await expect(disabled).rejects.toThrow(ClientNotAuthorizedError);
      await expect(expired).rejects.toThrow(ClientNotAuthorizedError);
    });

    it('answers 503 naming the upstream failure when no token can be had', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();
      t.aml.behaviour = { kind: 'error', error: Object.assign(new Error('forbidden'), { statusCode: 403 }) };

      // Act
      const error = (await t.module.broker
        .vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: 'demo-token' })
        .catch((e: unknown) => e)) as UpstreamUnavailableError;

      // Assess
      expect(error).toBeInstanceOf(UpstreamUnavailableError);
      expect(error.message).toContain('amlToken');
      expect(error.message).toContain('denied');
      expect(error.retryAfterSeconds).toBe(30);
    });

    it('answers 503 when the endpoint registry is unreachable and nothing is cached', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();
      t.endpoints.failing = true;

      // Act
      const attempt = t.module.broker.vend({
        protocol: 'oauth',
        clientId: c.id,
        secret: c.primary,
        scope: 'demo-token',
      });

      // Assess
      await expect(attempt).rejects.toThrow(DependencyUnavailableError);
    });

    it('audits every decision without the token and samples TokenIssued telemetry', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();

      // Act
      for (let i = 0; i < 150; i++) {
        await t.module.broker.vend({
          protocol: 'oauth',
          clientId: c.id,
          secret: c.primary,
          scope: 'demo-token',
        });
      }
      await expect(
        t.module.broker.vend({ protocol: 'msi', clientId: c.id, secret: 'wrong', scope: 'demo-token' }),
      ).rejects.toThrow(InvalidClientError);

      // Assess
      const issued = t.audit.entries.filter((e) => e.outcome === 'issued');
      const denied = t.audit.entries.filter((e) => e.outcome === 'denied');
      expect(issued).toHaveLength(150);
      expect(issued[0]).toMatchObject({
        clientId: c.id,
        scope: 'demo-token',
        protocol: 'oauth',
        upstream: 'amlToken',
      });
      expect(denied).toEqual([expect.objectContaining({ reason: 'InvalidClient', protocol: 'msi' })]);
      expect(t.audit.text()).not.toContain('amlToken-token');
      expect(t.telemetry.events.filter((e) => e.name === 'TokenIssued')).toHaveLength(2);
      expect(t.telemetry.events.filter((e) => e.name === 'TokenDenied')).toHaveLength(1);
    });

    it('records each client id as the registered one (at most 64 characters), a 29-character fingerprint or empty', async () => {
      // Prepare: a client with the longest id the admin API creates, and ids no client can have: one
      // character longer, and 300 characters ending in an emoji (past the audit's 256-character cut)
      const t = buildTestBroker();
      const longest = await t.addClient({ id: `a${'b'.repeat(63)}` });
      const tooLong = `${longest.id}c`;
      const huge = `${'d'.repeat(298)}\u{1F600}`;
      const vend = (clientId: string, secret: string) =>
        t.module.broker
          .vend({ protocol: 'oauth', clientId, secret, scope: 'demo-token' })
          .catch(() => undefined);

      // Act: issued and refused by the broker, and refused by a route before it
      await vend(longest.id, longest.primary);
      await vend(longest.id, 'wrong');
      await vend(tooLong, longest.primary);
      await vend(huge, 'wrong');
      for (const clientId of [longest.id, huge, '']) {
        await t.module.broker.refused(
          { protocol: 'msi', clientId, scope: 'demo-token', secrets: [] },
          new InvalidClientError(),
        );
      }

      // Assess: nothing an audit row would have to cut, in the entries and TokenDenied events alike
      const fingerprint = (id: string) =>
        `unregistered:${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
      const recorded = [longest.id, longest.id, fingerprint(tooLong), fingerprint(huge)];
      recorded.push(longest.id, fingerprint(huge), '');
      expect(t.audit.entries.map((e) => e.clientId)).toEqual(recorded);
      const events = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
      expect(events.map((e) => e.props?.['clientId'])).toEqual(recorded.slice(1));
      expect(Math.max(...recorded.map((id) => id.length))).toBe(64);
    });

    it('records an id that is no registered client as a fingerprint, so a secret sent as the id is stored nowhere', async () => {
      // Prepare: a client that swaps its id and secret, and one that sends a wrong secret
      const t = buildTestBroker();
      const c = await t.addClient();

      // Act
      const swapped = t.module.broker.vend({
        protocol: 'oauth',
        clientId: c.primary,
        secret: c.id,
        scope: 'demo-token',
      });
      const wrongSecret = t.module.broker.vend({
        protocol: 'msi',
        clientId: c.id,
        secret: 'wrong',
        scope: 'demo-token',
      });

      // Assess
      await expect(swapped).rejects.toThrow(InvalidClientError);
      await expect(wrongSecret).rejects.toThrow(InvalidClientError);
      const fingerprint = `unregistered:${createHash('sha256').update(c.primary).digest('hex').slice(0, 16)}`;
      expect(t.audit.entries.map((e) => e.clientId)).toEqual([fingerprint, c.id]);
      const denials = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
      expect(denials.map((e) => e.props?.['clientId'])).toEqual([fingerprint, c.id]);
      expect([t.audit.text(), t.telemetry.text(), t.logs.join('\n')].join('\n')).not.toContain(c.primary);
    });

    it('records a scope that does not parse as a fingerprint and its length, so a secret, token or key pasted into it is stored nowhere', async () => {
      // Prepare: a client that pastes its secret, a JWT or a key where the scope goes, with its secret
      // right (ScopeMalformed) or wrong (InvalidClient, refused before the scope is read)
      const t = buildTestBroker();
      const c = await t.addClient();
      const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl';
      const key = 'q8Vq3nT0bY7mL2xR9kP4wZ1sD6fH5jA0cE3gB8uN2oI=';
      const refuse = (secret: string, scope: string) =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret, scope }).catch(() => undefined);

      // Act
      await refuse(c.primary, c.secondary);
      await refuse(c.primary, jwt);
      await refuse('wrong', key);
      await refuse(c.primary, 'demo-aad');
      await refuse('wrong', 'https://management.azure.com');

      // Assess: what operators search by stays as it is; the rest is a fingerprint anyone holding the
      // text can compute (\`printf %s "$SCOPE" | sha256sum | cut -c1-16\`) and its length
      const recorded = [
        malformedScope(c.secondary),
        malformedScope(jwt),
        malformedScope(key),
        'demo-aad',
        'https://management.azure.com',
      ];
      expect(t.audit.entries.map((e) => [e.scope, e.reason])).toEqual([
        [recorded[0], 'ScopeMalformed'],
        [recorded[1], 'ScopeMalformed'],
        [recorded[2], 'InvalidClient'],
        [recorded[3], 'ScopeNotAllowed'],
        [recorded[4], 'InvalidClient'],
      ]);
      const events = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
      expect(events.map((e) => e.props?.['scope'])).toEqual(recorded);
      const stored = [t.audit.text(), t.telemetry.text(), t.logs.join('\n')].join('\n');
      for (const pasted of [c.secondary, jwt, key]) expect(stored).not.toContain(pasted);
    });

    it('never records a well-formed scope that holds the secret the request presented', async () => {
      // Prepare: the secret pasted into a resource URI's path, with the right secret and a wrong one, and
      // as the whole scope (malformed, but `withheld` says more: the client sent its secret twice)
      const t = buildTestBroker();
      const c = await t.addClient();
      const madeUp = 'made-up-secret-0123456789';
      const scopes = [
        `https://ml.azure.com/${c.primary}`,
        `https://ml.azure.com/${madeUp}/.default`,
        c.primary,
      ];

      // Act
      await expect(
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: scopes[0] }),
      ).rejects.toThrow(ScopeNotAllowedError);
      await expect(
        t.module.broker.vend({ protocol: 'msi', clientId: c.id, secret: madeUp, scope: scopes[1] }),
      ).rejects.toThrow(InvalidClientError);
      await expect(
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: scopes[2] }),
      ).rejects.toThrow(MalformedScopeError);

      // Assess: withheld as a fingerprint of what was presented, as a malformed scope is
      const recorded = scopes.map(withheldScope);
      expect(t.audit.entries.map((e) => e.scope)).toEqual(recorded);
      const events = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
      expect(events.map((e) => e.props?.['scope'])).toEqual(recorded);
      const stored = [t.audit.text(), t.telemetry.text(), t.logs.join('\n')].join('\n');
      expect(stored).not.toContain(c.primary);
      expect(stored).not.toContain(madeUp);
    });

    it('records no scope as none, and the only allowed one it granted or refused as it is', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();
      const several = await t.addClient({ allowedScopes: ['demo-token', 'demo-aad'] });

      // Act
      await t.module.broker
        .vend({ protocol: 'oauth', clientId: several.id, secret: 'x', scope: undefined })
        .catch(() => undefined);
      await t.module.broker
        .vend({ protocol: 'oauth', clientId: several.id, secret: several.primary, scope: undefined })
        .catch(() => undefined);
      await t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: undefined });

      // Assess
      expect(t.audit.entries.map((e) => [e.scope, e.outcome])).toEqual([
        ['', 'denied'],
        ['', 'denied'],
        ['demo-token', 'issued'],
      ]);
    });

    it('sends at most 10 TokenDenied events a second, saying how many went without, and counts every denial in BrokerTokensDenied', async () => {
      // Prepare: a flood of made-up client ids (each new, so no backoff slows it)
      const t = buildTestBroker();
      const refuse = (i: number) =>
        expect(
          t.module.broker.vend({
            protocol: 'oauth',
            clientId: `made-up-${i}`,
            secret: 'x',
            scope: 'demo-token',
          }),
        ).rejects.toThrow(InvalidClientError);

      // Act: 25 refusals within one second, then one in the next
      for (let i = 0; i < 25; i++) await refuse(i);
      t.clock.advance(1000);
      await refuse(25);

      // Assess
      const events = t.telemetry.events.filter((e) => e.name === 'TokenDenied');
      expect(events).toHaveLength(11);
      expect(events.map((e) => e.props?.['unsentBefore'])).toEqual([...Array<undefined>(10), 15]);
      const counted = t.telemetry.metrics.filter((m) => m.name === 'BrokerTokensDenied');
      expect(counted.reduce((sum, m) => sum + m.value, 0)).toBe(26);
      expect(counted[0]?.props).toEqual({
        reason: 'InvalidClient',
        protocol: 'oauth',
        upstream: undefined,
        failure: undefined,
      });
      expect(t.audit.entries).toHaveLength(26);
    });

    it('cuts a long presented scope before a character beyond U+FFFF, never inside its surrogate pair', async () => {
      // Prepare: an emoji (two UTF-16 code units) across the 256-unit cut, in a scope recorded as presented:
      // a resource URI (one that does not parse is recorded as a fingerprint), refused before it is read
      const t = buildTestBroker();
      const c = await t.addClient();
      const kept = `https://ml.azure.com/${'a'.repeat(234)}`;
      const scope = `${kept}\u{1F600}tail`;

      // Act
      await expect(
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: 'wrong', scope }),
      ).rejects.toThrow(InvalidClientError);

      // Assess: the row and the event keep the 255 characters before it, and no half of it
      const event = t.telemetry.events.find((e) => e.name === 'TokenDenied');
      expect(kept).toHaveLength(255);
      expect(t.audit.entries.map((e) => e.scope)).toEqual([kept]);
      expect(event?.props?.['scope']).toBe(kept);
    });

    it('answers a warm vend from memory: settled one microtask turn after the call, audited as before', async () => {
      // Prepare: the first vend reads the client, the endpoint and the token, and matches the secret's HMAC
      const t = buildTestBroker();
      const c = await t.addClient();
      const request = { protocol: 'oauth' as const, clientId: c.id, secret: c.primary, scope: 'demo-token' };
      await t.module.broker.vend(request);
      let vended: VendResult | undefined;

      // Act: one turn is what awaiting any promise costs; each awaited step of the vend would add more
      void t.module.broker.vend(request).then((result) => (vended = result));
      await Promise.resolve();

      // Assess
      expect(vended?.token.value).toBe('amlToken-token-1');
      expect(vended?.scope).toBe('demo-token');
      expect(t.audit.entries.map((e) => [e.outcome, e.clientId, e.scope, e.upstream])).toEqual([
        ['issued', c.id, 'demo-token', 'amlToken'],
        ['issued', c.id, 'demo-token', 'amlToken'],
      ]);
      expect([t.registry.reads, t.endpoints.reads, t.aml.calls]).toEqual([1, 1, 1]);
    });

    it('starts one background refresh from warm vends once the token is due, serving the cached one meanwhile', async () => {
      // Prepare: 40-s tokens served for 30 s are refreshed ahead after 20 s, while the client record and the
      // endpoint lookup (30 s) are still held, so the vends below are warm
      const t = buildTestBroker({ BROKER_MIN_TOKEN_LIFETIME_SECONDS: '10', BROKER_REFRESH_FRACTION: '0.5' });
      t.aml.behaviour = { kind: 'token', lifetimeMs: 40_000 };
      const c = await t.addClient();
      const vend = () =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: 'demo-token' });
      await vend();
      t.clock.advance(21_000);

      // Act
      const during = await Promise.all([vend(), vend(), vend()]);
      await settle();
      const after = await vend();

      // Assess
      expect(during.map((r) => r.token.value)).toEqual(Array(3).fill('amlToken-token-1'));
      expect(after.token.value).toBe('amlToken-token-2');
      expect([t.registry.reads, t.endpoints.reads, t.aml.calls]).toEqual([1, 1, 2]);
    });
  });
});
