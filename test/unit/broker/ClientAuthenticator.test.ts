import type { BrokerClientRecord } from '../../../shared/broker/BrokerClient';
import {
  ClientAuthenticator,
  type ClientAuthenticatorOptions,
} from '../../../shared/broker/ClientAuthenticator';
import { CLIENT_ID_PATTERN } from '../../../shared/broker/clientInput';
import { ColdReadBudget } from '../../../shared/broker/ColdReadBudget';
import {
  ClientBackoffError,
  ClientLookupsBusyError,
  ClientNotAuthorizedError,
  InvalidClientError,
} from '../../../shared/broker/errors';
import { FailureBackoff } from '../../../shared/broker/FailureBackoff';
import { SecretHasher } from '../../../shared/broker/SecretHasher';
import { DependencyUnavailableError } from '../../../shared/errors';
import { InMemoryBrokerClientRegistry } from '../../fakes/broker/InMemoryBrokerClientRegistry';
import { CapturingLogger } from '../../fakes/capture';
import { FakeClock } from '../../fakes/FakeClock';
import { settle } from '../../support/waitFor';

const PEPPER = 'p'.repeat(40);

/** A real hasher that counts its HMACs. */
class CountingHasher extends SecretHasher {
  hmacs = 0;
  override hash(secret: string): Buffer {
    this.hmacs++;
    return super.hash(secret);
  }
}

/**
 * The backoff's hash seed, fixed: under a random one, two ids share a counter (and so a backoff) about once
 * in 65,536 runs, which would fail the tests that compare two ids' backoff that rarely.
 */
const BACKOFF_SEED = 1;

function setup(overrides: Partial<ClientAuthenticatorOptions> = {}) {
  const clock = new FakeClock();
  const registry = new InMemoryBrokerClientRegistry();
  const hasher = new CountingHasher(PEPPER);
  const logger = new CapturingLogger();
  const authenticator = new ClientAuthenticator({
    registry,
    hasher,
    clock,
    logger,
    defaultRateLimitPerMinute: 600,
    backoff: new FailureBackoff({
      freeAttempts: 3,
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      seed: BACKOFF_SEED,
    }),
    ...overrides,
  });
  const primary = SecretHasher.generateSecret();
  const secondary = SecretHasher.generateSecret();
  const record: BrokerClientRecord = {
    id: 'legacy-app',
    displayName: 'Legacy app',
    primarySecretHash: hasher.hashForStorage(primary),
    secondarySecretHash: hasher.hashForStorage(secondary),
    allowedScopes: ['demo-token'],
    enabled: true,
    keyAccess: false,
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
  };
  registry.records.set(record.id, record);
  return { clock, registry, authenticator, primary, secondary, record, logger, hasher };
}

/** A real budget that counts what it is asked for. */
class CountingBudget extends ColdReadBudget {
  takes = 0;
  override take(now: number): boolean {
    this.takes++;
    return super.take(now);
  }
}

/** `count` made-up, well-formed client ids, none of them a client's. */
const madeUpIds = (count: number, tag = 'x'): string[] =>
  Array.from({ length: count }, (_, i) => `made-up-${tag}-${i}`);

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('Class: ClientAuthenticator', () => {
  describe('Method: authenticate', () => {
    it('accepts the primary and the secondary secret', async () => {
      // Prepare
      const { authenticator, primary, secondary } = setup();

      // Act
      const a = await authenticator.authenticate('legacy-app', primary);
      const b = await authenticator.authenticate('legacy-app', secondary);

      // Assess
      expect(a.id).toBe('legacy-app');
      expect(b.allowedScopes.has('demo-token')).toBe(true);
      expect(b.rateLimitPerMinute).toBe(600);
    });

    it('answers an unknown id exactly like a wrong secret', async () => {
      // Prepare
      const { authenticator } = setup();

      // Act
      const wrong = (await failure(authenticator.authenticate('legacy-app', 'nope'))) as InvalidClientError;
      const unknown = (await failure(
        authenticator.authenticate('who-is-this', 'nope'),
      )) as InvalidClientError;

      // Assess
      expect(wrong).toBeInstanceOf(InvalidClientError);
      expect(unknown).toBeInstanceOf(InvalidClientError);
      expect([unknown.code, unknown.status, unknown.message]).toEqual([
        wrong.code,
        wrong.status,
        wrong.message,
      ]);
    });

    it('does the same work for unknown ids and wrong secrets: one HMAC each, lookups cached alike', async () => {
      // Prepare: counting work rather than timing it, which machine load makes flaky
      const { authenticator, hasher, registry } = setup();
      const work = { known: 0, unknown: 0 };
      const once = async (kind: 'known' | 'unknown', i: number) => {
        const id = kind === 'known' ? 'legacy-app' : 'who-is-this';
        const before = hasher.hmacs;
        const error = await failure(authenticator.authenticate(id, `bad-${i}`));
        expect(error instanceof InvalidClientError || error instanceof ClientBackoffError).toBe(true);
        work[kind] += hasher.hmacs - before;
      };
      await once('known', -1);
      await once('unknown', -1);
      const readsWarm = registry.reads;
      work.known = 0;
      work.unknown = 0;

      // Act
      for (let i = 0; i < 200; i++) await once(i % 2 ? 'known' : 'unknown', i);

      // Assess: a shortcut that skipped the HMAC for unknown ids would show here
      expect(work).toEqual({ known: 100, unknown: 100 });
      expect(registry.reads).toBe(readsWarm);
    });

    it('does the same work for unknown ids and wrong secrets when the refusal re-reads the record', async () => {
      // Prepare: each request 2 s after the last, so every refusal re-reads its record first
      const { authenticator, hasher, registry, clock } = setup({
        backoff: new FailureBackoff({ freeAttempts: 1000, baseDelayMs: 1000, maxDelayMs: 60_000 }),
      });
      const work = { known: { hmacs: 0, reads: 0 }, unknown: { hmacs: 0, reads: 0 } };
      const once = async (kind: 'known' | 'unknown', i: number) => {
        const id = kind === 'known' ? 'legacy-app' : 'who-is-this';
        const [hmacs, reads] = [hasher.hmacs, registry.reads];
        expect(await failure(authenticator.authenticate(id, `bad-${i}`))).toBeInstanceOf(InvalidClientError);
        work[kind].hmacs += hasher.hmacs - hmacs;
        work[kind].reads += registry.reads - reads;
      };
      await once('known', -1);
      await once('unknown', -1);
      work.known = { hmacs: 0, reads: 0 };
      work.unknown = { hmacs: 0, reads: 0 };

      // Act
      for (let i = 0; i < 20; i++) {
        clock.advance(2_000);
        await once(i % 2 ? 'known' : 'unknown', i);
      }

      // Assess: a second HMAC only for registered ids would tell them apart
      expect(work.known).toEqual(work.unknown);
    });

    it('backs off repeated bad secrets with a growing, capped Retry-After', async () => {
      // Prepare
      const { authenticator, clock } = setup();
      const retries: number[] = [];

      // Act
      for (let i = 0; i < 12; i++) {
        const error = await failure(authenticator.authenticate('legacy-app', 'wrong'));
        if (error instanceof ClientBackoffError) retries.push(error.retryAfterSeconds ?? 0);
        else expect(error).toBeInstanceOf(InvalidClientError);
        clock.advance(100);
      }

      // Assess
      expect(retries[0]).toBe(1);
      expect(retries[1]).toBe(2);
      expect(Math.max(...retries)).toBe(60);
      expect(retries.length).toBe(9);
    });

    it('backs off unknown ids the same way as known ones', async () => {
      // Prepare: two ids on counters of their own under the fixed seed, or one's failures would add to the other's
      const { authenticator } = setup();
      const backoff = new FailureBackoff({ seed: BACKOFF_SEED });
      expect(backoff.counterOf('nobody-here')).not.toBe(backoff.counterOf('legacy-app'));
      const kinds = async (id: string) => {
        const out: string[] = [];
        for (let i = 0; i < 6; i++)
          out.push(((await failure(authenticator.authenticate(id, 'x'))) as Error).name);
        return out;
      };

      // Act
      const known = await kinds('legacy-app');
      const unknown = await kinds('nobody-here');

      // Assess
      expect(unknown).toEqual(known);
      expect(known.slice(-1)).toEqual(['ClientBackoffError']);
    });

    it('does not lock out the holder of the right secret and resets the backoff on success', async () => {
      // Prepare
      const { authenticator, primary } = setup();
      for (let i = 0; i < 8; i++) await failure(authenticator.authenticate('legacy-app', 'wrong'));

      // Act
      const ok = await authenticator.authenticate('legacy-app', primary);
      const afterReset = await failure(authenticator.authenticate('legacy-app', 'wrong'));

      // Assess
      expect(ok.id).toBe('legacy-app');
      expect(afterReset).toBeInstanceOf(InvalidClientError);
    });

    it('finds no backoff counter for a cached client presenting its secret, only for refusals', async () => {
      // Prepare: a backoff that counts the ids it hashes to a counter
      class CountingBackoff extends FailureBackoff {
        lookups = 0;
        override counterOf(clientId: string): number {
          this.lookups++;
          return super.counterOf(clientId);
        }
      }
      const backoff = new CountingBackoff({ freeAttempts: 3 });
      const { authenticator, primary } = setup({ backoff });
      await authenticator.authenticate('legacy-app', primary);
      const afterRead = backoff.lookups;

      // Act
      for (let i = 0; i < 100; i++) await authenticator.authenticate('legacy-app', primary);
      const afterWarm = backoff.lookups;
      await failure(authenticator.authenticate('legacy-app', 'wrong'));

      // Assess: one per record read and one per refusal, none on the warm path
      expect(afterRead).toBe(1);
      expect(afterWarm).toBe(afterRead);
      expect(backoff.lookups).toBe(afterWarm + 1);
    });

    it('refuses a disabled client only after its secret checked out', async () => {
      // Prepare
      const { authenticator, registry, record, primary } = setup();
      registry.records.set(record.id, { ...record, enabled: false });

      // Act
      const withSecret = await failure(authenticator.authenticate('legacy-app', primary));
      const withoutSecret = await failure(authenticator.authenticate('legacy-app', 'wrong'));

      // Assess
      expect(withSecret).toBeInstanceOf(ClientNotAuthorizedError);
      expect(withoutSecret).toBeInstanceOf(InvalidClientError);
    });

    it('refuses an expired client', async () => {
      // Prepare
      const { authenticator, registry, record, primary, clock } = setup();
      registry.records.set(record.id, { ...record, expiresAt: new Date(clock.now() - 1).toISOString() });

      // Act
      const attempt = authenticator.authenticate('legacy-app', primary);

      // Assess
      await expect(attempt).rejects.toThrow(ClientNotAuthorizedError);
    });

    it('reads the registry once per client within the cache TTL and again after it', async () => {
      // Prepare
      const { authenticator, registry, primary, clock } = setup();

      // Act
      await Promise.all(Array.from({ length: 20 }, () => authenticator.authenticate('legacy-app', primary)));
      const readsWarm = registry.reads;
      clock.advance(31_000);
      await authenticator.authenticate('legacy-app', primary);

      // Assess
      expect(readsWarm).toBe(1);
      expect(registry.reads).toBe(2);
    });

    it('serves the cached record during a registry outage, and 503 when nothing is cached', async () => {
      // Prepare
      const { authenticator, registry, primary, clock } = setup();
      await authenticator.authenticate('legacy-app', primary);
      registry.failing = true;
      clock.advance(31_000);

      // Act
      const stale = await authenticator.authenticate('legacy-app', primary);
      const cold = authenticator.authenticate('other-app', primary);

      // Assess
      expect(stale.id).toBe('legacy-app');
      await expect(cold).rejects.toThrow(DependencyUnavailableError);
    });

    it('reads a silent registry again a few seconds after a read was given up, not on every request', async () => {
      // Prepare: a cached record, then a re-read given up for time 10 s (by the clock) after it started
      const { authenticator, registry, primary, clock } = setup({ reloadWaitMs: 1, readTimeLimitMs: 20 });
      await authenticator.authenticate('legacy-app', primary);
      clock.advance(31_000);
      registry.answers.close();
      await authenticator.authenticate('legacy-app', primary);
      clock.advance(10_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const readsAfterGivingUp = registry.reads;

      // Act
      clock.advance(1_000);
      await authenticator.authenticate('legacy-app', primary);
      const readsOneSecondLater = registry.reads;
      clock.advance(4_000);
      await authenticator.authenticate('legacy-app', primary);

      // Assess
      expect(readsOneSecondLater).toBe(readsAfterGivingUp);
      expect(registry.reads).toBe(readsAfterGivingUp + 1);
      registry.answers.open();
    });

    it('serves the cached record when the re-read does not answer within reloadWaitMs, and the answer once it comes', async () => {
      // Prepare
      const { authenticator, registry, record, primary, clock } = setup({ reloadWaitMs: 30 });
      await authenticator.authenticate('legacy-app', primary);
      clock.advance(31_000);
      registry.records.set(record.id, { ...record, enabled: false });
      registry.answers.close();

      // Act: the request that starts the re-read waits 30 ms; one meanwhile is answered before it
      let firstAnswered = false;
      const first = authenticator.authenticate('legacy-app', primary).finally(() => (firstAnswered = true));
      const meanwhile = await authenticator.authenticate('legacy-app', primary);
      const answeredBeforeFirst = !firstAnswered;
      const stale = await first;
      registry.answers.open();
      await settle();
      const fresh = authenticator.authenticate('legacy-app', primary);

      // Assess
      expect([stale.id, meanwhile.id]).toEqual(['legacy-app', 'legacy-app']);
      expect(answeredBeforeFirst).toBe(true);
      await expect(fresh).rejects.toThrow(ClientNotAuthorizedError);
      expect(registry.reads).toBe(2);
    });

    it('gives up a registry read that does not answer within readTimeLimitMs: 503, and no lasting hold', async () => {
      // Prepare: nothing cached, and a registry that has stopped answering
      const { authenticator, registry, primary } = setup({ readTimeLimitMs: 30 });
      registry.answers.close();

      // Act
      const cold = await failure(authenticator.authenticate('legacy-app', primary));
      registry.answers.open();
      const afterwards = await authenticator.authenticate('legacy-app', primary);

      // Assess
      expect(cold).toBeInstanceOf(DependencyUnavailableError);
      expect(afterwards.id).toBe('legacy-app');
      expect(registry.reads).toBe(2);
    });

    it('gives the registry read up at readTimeLimitMs: its signal fires, so its request ends too', async () => {
      // Prepare: nothing cached, and a registry that has stopped answering
      const { authenticator, registry, primary } = setup({ readTimeLimitMs: 30 });
      registry.answers.close();

      // Act
      const cold = await failure(authenticator.authenticate('legacy-app', primary));

      // Assess: one read, handed a signal that fired with the 503, naming the time limit
      expect(cold).toBeInstanceOf(DependencyUnavailableError);
      expect(registry.signals).toHaveLength(1);
      expect(registry.signals[0]?.aborted).toBe(true);
      expect(registry.signals[0]?.reason).toMatchObject({ name: 'TimeLimitError', limitMs: 30 });
      registry.answers.open();
    });

    it('hands the registry read a signal that does not fire when the registry answers in time', async () => {
      // Prepare
      const { authenticator, registry, primary } = setup({ readTimeLimitMs: 30 });

      // Act
      const client = await authenticator.authenticate('legacy-app', primary);
      await new Promise((resolve) => setTimeout(resolve, 60));

      // Assess
      expect(client.id).toBe('legacy-app');
      expect(registry.signals).toHaveLength(1);
      expect(registry.signals[0]?.aborted).toBe(false);
    });

    it('accepts at once a secret regenerated, or a client created or enabled, on another instance', async () => {
      // Prepare: this instance holds the record (and an unknown id's absence) from 5 s ago
      const { authenticator, registry, record, primary, hasher, clock } = setup();
      await authenticator.authenticate('legacy-app', primary);
      await failure(authenticator.authenticate('new-app', primary));
      clock.advance(5_000);
      const regenerated = SecretHasher.generateSecret();
      registry.records.set(record.id, { ...record, secondarySecretHash: hasher.hashForStorage(regenerated) });
      registry.records.set('new-app', { ...record, id: 'new-app', enabled: false });
      await failure(authenticator.authenticate('new-app', primary));
      clock.advance(5_000);
      registry.records.set('new-app', { ...record, id: 'new-app', enabled: true });

      // Act
      const withNewSecret = await authenticator.authenticate('legacy-app', regenerated);
      const created = await authenticator.authenticate('new-app', primary);

      // Assess
      expect(withNewSecret.id).toBe('legacy-app');
      expect(created.id).toBe('new-app');
    });

    it('re-reads before a refusal at most once per client every 2 s, and keeps the refusal when that read fails', async () => {
      // Prepare
      const { authenticator, registry, primary, clock } = setup({
        backoff: new FailureBackoff({ freeAttempts: 1000, baseDelayMs: 1000, maxDelayMs: 60_000 }),
      });
      await authenticator.authenticate('legacy-app', primary);
      const readsBefore = registry.reads;

      // Act: 100 wrong secrets within 2 s, then 100 more; then the same while the registry fails
      const refusals: unknown[] = [];
      for (let i = 0; i < 100; i++)
        refusals.push(await failure(authenticator.authenticate('legacy-app', 'x')));
      clock.advance(2_000);
      for (let i = 0; i < 100; i++)
        refusals.push(await failure(authenticator.authenticate('legacy-app', 'x')));
      const readsHealthy = registry.reads - readsBefore;
      registry.failing = true;
      clock.advance(2_000);
      for (let i = 0; i < 100; i++)
        refusals.push(await failure(authenticator.authenticate('legacy-app', 'x')));

      // Assess: one re-read per 2-s window (the first is within 2 s of the cached read), a 401 throughout
      expect(readsHealthy).toBe(1);
      expect(registry.reads - readsBefore).toBe(2);
      expect(refusals.every((e) => e instanceof InvalidClientError)).toBe(true);
    });

    it('HMACs a matching secret once per cached record; wrong secrets are HMACed every time', async () => {
      // Prepare
      const { authenticator, hasher, primary, secondary } = setup();
      const before = hasher.hmacs; // the stored hashes

      // Act
      for (let i = 0; i < 5; i++) await authenticator.authenticate('legacy-app', primary);
      await authenticator.authenticate('legacy-app', secondary);
      const afterMatches = hasher.hmacs;
      for (let i = 0; i < 3; i++) await failure(authenticator.authenticate('legacy-app', 'wrong'));

      // Assess
      expect(afterMatches - before).toBe(2);
      expect(hasher.hmacs - before).toBe(5);
    });

    it('refuses a remembered secret once the record no longer holds it (rotated in another instance)', async () => {
      // Prepare
      const { authenticator, registry, record, primary, clock } = setup();
      await authenticator.authenticate('legacy-app', primary);
      registry.records.set(record.id, {
        ...record,
        primarySecretHash: new SecretHasher(PEPPER).hashForStorage(SecretHasher.generateSecret()),
      });

      // Act
      const withinTtl = await authenticator.authenticate('legacy-app', primary);
      clock.advance(31_000);
      const afterReload = await failure(authenticator.authenticate('legacy-app', primary));

      // Assess
      expect(withinTtl.id).toBe('legacy-app');
      expect(afterReload).toBeInstanceOf(InvalidClientError);
    });

    it('refuses a remembered secret of a client disabled since', async () => {
      // Prepare
      const { authenticator, registry, record, primary } = setup();
      await authenticator.authenticate('legacy-app', primary);
      registry.records.set(record.id, { ...record, enabled: false });
      authenticator.invalidate(record.id);

      // Act
      const refused = await failure(authenticator.authenticate('legacy-app', primary));

      // Assess
      expect(refused).toBeInstanceOf(ClientNotAuthorizedError);
    });
  });

  describe('Method: authenticateCached', () => {
    it('answers a client whose secret matched before from memory, without an HMAC or a read', async () => {
      // Prepare
      const { authenticator, clock, hasher, registry, primary } = setup();
      await authenticator.authenticate('legacy-app', primary);
      const work = [hasher.hmacs, registry.reads];

      // Act
      const client = authenticator.authenticateCached('legacy-app', primary, clock.now());

      // Assess
      expect(client?.id).toBe('legacy-app');
      expect(client?.allowedScopes.has('demo-token')).toBe(true);
      expect([hasher.hmacs, registry.reads]).toEqual(work);
    });

    it('leaves to authenticate, doing nothing, every answer that needs an HMAC, a read or a refusal', async () => {
      // Prepare: a record read and the primary matched; the secondary never presented
      const { authenticator, clock, hasher, registry, primary, secondary } = setup();
      await authenticator.authenticate('legacy-app', primary);
      const work = [hasher.hmacs, registry.reads];

      // Act
      const answers = [
        authenticator.authenticateCached('legacy-app', secondary, clock.now()),
        authenticator.authenticateCached('who-is-this', primary, clock.now()),
        authenticator.authenticateCached('legacy-app', primary, clock.now() + 30_000),
      ];
      for (let i = 0; i < 5; i++)
        answers.push(authenticator.authenticateCached('legacy-app', 'bad', clock.now()));
      const workDone = [hasher.hmacs, registry.reads];
      // Three free failures (the setup's backoff), then the backoff: none was counted above.
      const refusals = [];
      for (let i = 0; i < 4; i++)
        refusals.push(await failure(authenticator.authenticate('legacy-app', 'bad')));

      // Assess
      expect(answers).toEqual(Array(8).fill(undefined));
      expect(workDone).toEqual(work);
      expect(refusals.map((e) => (e as Error).constructor)).toEqual([
        InvalidClientError,
        InvalidClientError,
        InvalidClientError,
        ClientBackoffError,
      ]);
    });

    it('leaves a disabled or expired client to authenticate, which refuses it', async () => {
      // Prepare: both matched their secret once (and were refused after it)
      const { authenticator, clock, registry, record, primary } = setup();
      registry.records.set('off-app', { ...record, id: 'off-app', enabled: false });
      registry.records.set('old-app', { ...record, id: 'old-app', expiresAt: '2025-01-01T00:00:00.000Z' });
      await failure(authenticator.authenticate('off-app', primary));
      await failure(authenticator.authenticate('old-app', primary));

      // Act
      const off = authenticator.authenticateCached('off-app', primary, clock.now());
      const old = authenticator.authenticateCached('old-app', primary, clock.now());

      // Assess
      expect([off, old]).toEqual([undefined, undefined]);
    });
  });

  describe('A flood of made-up client ids', () => {
    it('never pushes a registered client out of the cache, even with reads to spare', async () => {
      // Prepare: room for 50 records, and a budget that reads every made-up id
      const { authenticator, registry, primary } = setup({
        maxCachedClients: 50,
        coldReads: new ColdReadBudget({ perSecond: 1_000_000 }),
      });
      await authenticator.authenticate('legacy-app', primary);
      for (const id of madeUpIds(1000)) await failure(authenticator.authenticate(id, 'guess'));
      const readsAfterFlood = registry.reads;

      // Act
      const client = await authenticator.authenticate('legacy-app', primary);

      // Assess: every made-up id was read, the client's record was not read again
      expect(readsAfterFlood).toBe(1 + 1000);
      expect(client.id).toBe('legacy-app');
      expect(registry.reads).toBe(readsAfterFlood);
      expect(authenticator.recordableId('legacy-app')).toBe('legacy-app');
    });

    it('costs the registry at most the budget: its burst, then perSecond reads a second', async () => {
      // Prepare: 1,000 new ids a second for 10 s against a budget of 10 a second in bursts of 20
      const { authenticator, registry, clock, logger } = setup({
        coldReads: new ColdReadBudget({ perSecond: 10, burst: 20 }),
      });
      const outcomes = new Map<string, number>();

      // Act
      for (const id of madeUpIds(10_000)) {
        const error = (await failure(authenticator.authenticate(id, 'guess'))) as Error;
        outcomes.set(error.name, (outcomes.get(error.name) ?? 0) + 1);
        clock.advance(1);
      }

      // Assess: 20 + 10 × 10 s reads at most, and a log line a minute, not one per refusal
      expect(registry.reads).toBeGreaterThanOrEqual(100);
      expect(registry.reads).toBeLessThanOrEqual(20 + 10 * 10);
      expect(outcomes.get('InvalidClientError')).toBeGreaterThan(0);
      expect(outcomes.get('ClientLookupsBusyError')).toBeGreaterThan(9000);
      expect([...outcomes.keys()].sort()).toEqual(['ClientLookupsBusyError', 'InvalidClientError']);
      const heldBack = logger.lines.filter((l) => l.message === 'lookup => cold reads held back');
      expect(heldBack).toHaveLength(1);
    });

    it('refuses an id no client can have (the id rule the admin API creates by) unread, at no cost to the budget', async () => {
      // Prepare: a row under a 65-character id, which only a hand-made Table row could hold, and ids the rule
      // refuses otherwise (128 characters, too short, a space, a leading dot)
      const budget = new CountingBudget();
      const { authenticator, registry, record, primary, clock } = setup({ coldReads: budget });
      const tooLong = `a${'b'.repeat(64)}`;
      registry.records.set(tooLong, { ...record, id: tooLong });
      const ids = [tooLong, 'c'.repeat(128), 'ab', 'made up', '.app'];

      // Act: twice each, a few seconds apart (a refusal re-reads a cached id after 2 s)
      const refusals: unknown[] = [];
      for (let round = 0; round < 2; round++) {
        for (const id of ids) refusals.push(await failure(authenticator.authenticate(id, primary)));
        await authenticator.learn(tooLong);
        clock.advance(3000);
      }

      // Assess: refused as an unknown id is, no read, nothing taken from the budget, recorded as no client's
      expect(refusals.every((e) => e instanceof InvalidClientError)).toBe(true);
      expect([registry.reads, budget.takes]).toEqual([0, 0]);
      expect(authenticator.recordableId(tooLong)).toMatch(/^unregistered:[0-9a-f]{16}$/);
    });

    it('serves a cached client without testing its id against the id rule', async () => {
      // Prepare: the client's record cached by a first request
      const { authenticator, primary } = setup();
      await authenticator.authenticate('legacy-app', primary);
      const ruleTests = jest.spyOn(CLIENT_ID_PATTERN, 'test');

      // Act
      try {
        for (let i = 0; i < 3; i++) await authenticator.authenticate('legacy-app', primary);

        // Assess: the cache of registered clients answers first, so the warm path pays nothing for the rule
        expect(ruleTests).not.toHaveBeenCalled();
      } finally {
        ruleTests.mockRestore();
      }
    });

    it('re-reads a made-up id after the cache TTL only within the budget', async () => {
      // Prepare: 100 made-up ids, read once each, then known absent for the TTL
      const budget = new ColdReadBudget({ perSecond: 1, burst: 100 });
      const { authenticator, registry, clock } = setup({ coldReads: budget });
      const ids = madeUpIds(100);
      for (const id of ids) await failure(authenticator.authenticate(id, 'guess'));
      const readsFirstRound = registry.reads;
      clock.advance(31_000); // 31 reads back in the budget

      // Act: the same ids again, and again every 2 s (each refusal may re-read its id)
      for (let round = 0; round < 3; round++) {
        for (const id of ids) await failure(authenticator.authenticate(id, 'guess'));
        clock.advance(2_000);
      }

      // Assess
      expect(readsFirstRound).toBe(100);
      expect(registry.reads - readsFirstRound).toBeLessThanOrEqual(31 + 2 + 2);
    });

    it('answers every refusal alike while reads are held back: made-up id, wrong secret, cached absence', async () => {
      // Prepare: a cached client, a cached unknown id, then a budget spent by made-up ids
      const { authenticator, primary } = setup({ coldReads: new ColdReadBudget({ perSecond: 1, burst: 3 }) });
      await authenticator.authenticate('legacy-app', primary);
      await failure(authenticator.authenticate('who-is-this', 'guess'));
      for (const id of madeUpIds(5)) await failure(authenticator.authenticate(id, 'guess'));

      // Act
      const madeUp = (await failure(
        authenticator.authenticate('never-seen', 'guess'),
      )) as ClientLookupsBusyError;
      const wrong = (await failure(
        authenticator.authenticate('legacy-app', 'guess'),
      )) as ClientLookupsBusyError;
      const absent = (await failure(
        authenticator.authenticate('who-is-this', 'guess'),
      )) as ClientLookupsBusyError;

      // Assess: one answer, 503 with Retry-After, whatever the id
      expect(madeUp).toBeInstanceOf(ClientLookupsBusyError);
      const shape = (e: ClientLookupsBusyError) => [e.name, e.code, e.status, e.message, e.retryAfterSeconds];
      expect(shape(madeUp)).toEqual(['ClientLookupsBusyError', 'ClientLookupsBusy', 503, madeUp.message, 1]);
      expect(shape(wrong)).toEqual(shape(madeUp));
      expect(shape(absent)).toEqual(shape(madeUp));
    });

    it('serves a cached client its token without touching the budget, while reads are held back', async () => {
      // Prepare
      const budget = new CountingBudget({ perSecond: 1, burst: 1 });
      const { authenticator, registry, primary } = setup({ coldReads: budget });
      await authenticator.authenticate('legacy-app', primary);
      for (const id of madeUpIds(3)) await failure(authenticator.authenticate(id, 'guess'));
      const [takes, reads] = [budget.takes, registry.reads];

      // Act
      for (let i = 0; i < 100; i++) await authenticator.authenticate('legacy-app', primary);

      // Assess
      expect(budget.takes).toBe(takes);
      expect(registry.reads).toBe(reads);
    });

    it('tells an uncached client to retry, never backs it off for the flood, and serves it once a read is back', async () => {
      // Prepare: a registered client this instance has not read, and a spent budget
      const { authenticator, registry, record, primary, clock } = setup({
        coldReads: new ColdReadBudget({ perSecond: 1, burst: 1 }),
      });
      registry.records.set('other-app', { ...record, id: 'other-app' });
      for (const id of madeUpIds(2)) await failure(authenticator.authenticate(id, 'guess'));

      // Act: retries within the second (more than the 3 free failures), then one after it
      const meanwhile: unknown[] = [];
      for (let i = 0; i < 10; i++)
        meanwhile.push(await failure(authenticator.authenticate('other-app', primary)));
      clock.advance(1_000);
      const later = await authenticator.authenticate('other-app', primary);

      // Assess
      expect(meanwhile.every((e) => e instanceof ClientLookupsBusyError)).toBe(true);
      expect(later.id).toBe('other-app');
    });

    it.each([
      ['re-read before the refusal', 3_000],
      ['re-read after the cache TTL', 31_000],
    ])(
      'answers a wrong secret and an unknown id alike once the budget is spent, none refused yet (%s)',
      async (_, cachedFor) => {
        // Prepare: the id cached (a client's record, or no record), then a budget spent by made-up ids
        // without a read refused, as a caller can time it
        const attempt = async (id: string) => {
          const { authenticator, clock } = setup({
            backoff: new FailureBackoff({ freeAttempts: 100 }),
            coldReads: new ColdReadBudget({ perSecond: 1, burst: 3 }),
          });
          await failure(authenticator.authenticate(id, 'guess'));
          clock.advance(cachedFor);
          for (const madeUp of madeUpIds(3)) await failure(authenticator.authenticate(madeUp, 'guess'));
          return ((await failure(authenticator.authenticate(id, 'guess'))) as Error).name;
        };

        // Act
        const registered = await attempt('legacy-app');
        const unknown = await attempt('who-is-this');

        // Assess: a 401 for one and a 503 for the other would tell which ids are registered
        expect(unknown).toBe('ClientLookupsBusyError');
        expect(registered).toBe(unknown);
      },
    );

    it('takes as much from the budget for a refusal before the broker whether the id is registered or not', async () => {
      // Prepare
      const takes = async (id: string) => {
        const budget = new CountingBudget();
        const { authenticator, clock } = setup({ coldReads: budget });
        await authenticator.learn(id);
        clock.advance(31_000);
        const before = budget.takes;
        await authenticator.learn(id);
        return budget.takes - before;
      };

      // Act
      const registered = await takes('legacy-app');
      const unknown = await takes('who-is-this');

      // Assess
      expect([registered, unknown]).toEqual([1, 1]);
    });

    it("takes nothing from the budget for a client's own reads of its record, every cache TTL", async () => {
      // Prepare
      const budget = new CountingBudget({ perSecond: 1, burst: 1 });
      const { authenticator, registry, primary, clock } = setup({ coldReads: budget });
      await authenticator.authenticate('legacy-app', primary);
      const [takes, reads] = [budget.takes, registry.reads];

      // Act
      for (let i = 0; i < 5; i++) {
        clock.advance(31_000);
        await authenticator.authenticate('legacy-app', primary);
      }

      // Assess
      expect(registry.reads).toBe(reads + 5);
      expect(budget.takes).toBe(takes);
    });

    it("cannot reset a registered client's backoff with failures for made-up ids", async () => {
      // Prepare: a client backing off (3 free failures, the 4th backs off), then more failures for made-up
      // ids than the backoff used to track: ids outside the id pattern (no read, no budget) and well-formed
      // ones read within a budget that allows them all
      const { authenticator } = setup({ coldReads: new ColdReadBudget({ perSecond: 1_000_000 }) });
      for (let i = 0; i < 4; i++) await failure(authenticator.authenticate('legacy-app', 'guess'));
      for (let i = 0; i < 10_001; i++) await failure(authenticator.authenticate(`made up ${i}`, 'guess'));
      for (const id of madeUpIds(10_001)) await failure(authenticator.authenticate(id, 'guess'));

      // Act
      const next = await failure(authenticator.authenticate('legacy-app', 'guess'));

      // Assess: still backing off (5 failures: 2 s at least), not a fresh 401
      expect(next).toBeInstanceOf(ClientBackoffError);
      expect((next as ClientBackoffError).retryAfterSeconds).toBeGreaterThanOrEqual(2);
    });

    it('keeps backing off an unknown id through the same flood, as it does a registered one', async () => {
      // Prepare: the same history for a registered id and an id that is no client's
      const { authenticator } = setup();
      for (const id of ['legacy-app', 'nobody-here'])
        for (let i = 0; i < 4; i++) await failure(authenticator.authenticate(id, 'guess'));
      for (let i = 0; i < 20_002; i++) await failure(authenticator.authenticate(`made up ${i}`, 'guess'));

      // Act
      const registered = await failure(authenticator.authenticate('legacy-app', 'guess'));
      const unknown = await failure(authenticator.authenticate('nobody-here', 'guess'));

      // Assess: a flood that forgot one and kept the other would tell which id is registered
      expect(registered).toBeInstanceOf(ClientBackoffError);
      expect(unknown).toBeInstanceOf(ClientBackoffError);
    });

    it('reads at once, whatever the budget, a client an admin write touched: created, disabled or deleted', async () => {
      // Prepare: a cached client and a spent budget
      const { authenticator, registry, record, primary } = setup({
        coldReads: new ColdReadBudget({ perSecond: 1, burst: 1 }),
      });
      await authenticator.authenticate('legacy-app', primary);
      for (const id of madeUpIds(2)) await failure(authenticator.authenticate(id, 'guess'));

      // Act: what the admin service's onChange does after each write
      registry.records.set('new-app', { ...record, id: 'new-app' });
      authenticator.invalidate('new-app');
      const created = await authenticator.authenticate('new-app', primary);
      registry.records.set('legacy-app', { ...record, enabled: false });
      authenticator.invalidate('legacy-app');
      const disabled = await failure(authenticator.authenticate('legacy-app', primary));
      registry.records.delete('new-app');
      authenticator.invalidate('new-app');
      const deleted = await failure(authenticator.authenticate('new-app', primary));

      // Assess
      expect(created.id).toBe('new-app');
      expect(disabled).toBeInstanceOf(ClientNotAuthorizedError);
      expect(deleted).toBeInstanceOf(ClientLookupsBusyError);
      expect(authenticator.recordableId('new-app')).toMatch(/^unregistered:/);
    });
  });
  describe('A client whose row cannot be read (edited by hand)', () => {
    const unreadableWarnings = (logger: CapturingLogger) =>
      logger.lines.filter((l) => l.level === 'warn' && l.message.includes('client row unreadable'));

    it('is refused with its right secret exactly as a wrong secret is: 401, not a 503 outage', async () => {
      // Prepare
      const { authenticator, registry, primary, logger } = setup();
      registry.unreadable.set('legacy-app', ['allowedScopes', 'enabled']);

      // Act
      const refused = (await failure(
        authenticator.authenticate('legacy-app', primary),
      )) as InvalidClientError;
      const wrong = (await failure(authenticator.authenticate('legacy-app', 'nope'))) as InvalidClientError;

      // Assess
      expect(refused).toBeInstanceOf(InvalidClientError);
      expect([refused.code, refused.status, refused.message]).toEqual([
        wrong.code,
        wrong.status,
        wrong.message,
      ]);
      expect(unreadableWarnings(logger)).toEqual([
        expect.objectContaining({ props: { clientId: 'legacy-app', fields: 'allowedScopes,enabled' } }),
      ]);
      expect(logger.text()).not.toContain('registry unavailable');
      expect(logger.text()).not.toContain(primary);
    });

    it('does the same work as a wrong secret: one HMAC per request', async () => {
      // Prepare
      const { authenticator, registry, primary, hasher } = setup({
        backoff: new FailureBackoff({ freeAttempts: 1000, baseDelayMs: 1000, maxDelayMs: 60_000 }),
      });
      registry.unreadable.set('legacy-app', ['primarySecretHash']);
      await failure(authenticator.authenticate('legacy-app', primary));
      const before = hasher.hmacs;

      // Act
      for (let i = 0; i < 10; i++) await failure(authenticator.authenticate('legacy-app', primary));

      // Assess
      expect(hasher.hmacs - before).toBe(10);
    });

    it('is backed off like a wrong secret, its id recorded as sent (a registered row)', async () => {
      // Prepare
      const { authenticator, registry, primary } = setup();
      registry.unreadable.set('legacy-app', ['enabled']);

      // Act
      const errors: unknown[] = [];
      for (let i = 0; i < 5; i++)
        errors.push(await failure(authenticator.authenticate('legacy-app', primary)));

      // Assess
      expect(errors.at(-1)).toBeInstanceOf(ClientBackoffError);
      expect(authenticator.recordableId('legacy-app')).toBe('legacy-app');
    });

    it('is warned about once per cache TTL while it stays so, however often refusals re-read it', async () => {
      // Prepare
      const { authenticator, registry, primary, clock, logger } = setup({
        backoff: new FailureBackoff({ freeAttempts: 1000, baseDelayMs: 1000, maxDelayMs: 60_000 }),
      });
      registry.unreadable.set('legacy-app', ['keyAccess']);

      // Act: a refusal every 2 s for 40 s (each re-reads the row)
      for (let i = 0; i < 20; i++) {
        await failure(authenticator.authenticate('legacy-app', primary));
        clock.advance(2_000);
      }
      const readsMeanwhile = registry.reads;

      // Assess: the first read, then the first re-read 30 s (the TTL) after it
      expect(readsMeanwhile).toBeGreaterThanOrEqual(19);
      expect(unreadableWarnings(logger)).toHaveLength(2);
    });

    it('serves the client at once when the row is mended (the refusal re-reads it)', async () => {
      // Prepare
      const { authenticator, registry, primary, clock } = setup();
      registry.unreadable.set('legacy-app', ['enabled']);
      await failure(authenticator.authenticate('legacy-app', primary));
      registry.unreadable.delete('legacy-app');
      clock.advance(2_000);

      // Act
      const client = await authenticator.authenticate('legacy-app', primary);

      // Assess
      expect(client.allowedScopes.has('demo-token')).toBe(true);
    });

    it('stops a client that was served as soon as its row is found unreadable (not served stale)', async () => {
      // Prepare
      const { authenticator, registry, primary, clock } = setup();
      await authenticator.authenticate('legacy-app', primary);
      registry.unreadable.set('legacy-app', ['allowedScopes']);
      clock.advance(31_000);

      // Act
      const attempt = failure(authenticator.authenticate('legacy-app', primary));

      // Assess
      expect(await attempt).toBeInstanceOf(InvalidClientError);
    });
  });
});
