import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { ValidationError } from '../../../shared/errors';
import type { RegistrationCheck } from '../../../shared/rotation/EndpointAdminService';
import {
  AuthModeNotKeyError,
  AzureEndpointNotFoundError,
  EndpointChangedError,
  EndpointDeclaredInFileError,
  EndpointExistsError,
  EndpointNotFoundError,
  EndpointNotKnownHereError,
  EndpointReadOnlyError,
  EndpointRecordUnreadableError,
  RotationAlreadyQueuedError,
  RotationInGraceError,
  RotationInProgressError,
} from '../../../shared/rotation/errors';
import type { RotationOutcome } from '../../../shared/rotation/KeyRotator';
import { buildRotationFixture, type RotationFixture } from '../../fakes/rotation/buildRotationFixture';
import { CrashError } from '../../fakes/rotation/FaultPlan';
import { largestEndpointInput } from '../../support/tableLimitInputs';

const arm = {
  subscriptionId: '00000000-0000-0000-0000-000000000001',
  resourceGroup: 'rg-ml',
  workspace: 'ws-one',
  name: 'ep-1',
};

/** A manual rotation of the fixture's demo-key endpoint, as `POST …/rotate` would queue it. */
function rotateDemoKeyNow(f: RotationFixture): Promise<RotationOutcome> {
  return f.services.rotator.run({
    endpointId: 'demo-key',
    reason: 'manual',
    requestedAt: '2026-01-01T00:00:00Z',
  });
}

async function issuesOf(promise: Promise<unknown>): Promise<string[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues.map((i) => i.field).sort();
}

/** The answer to `POST …/rotate`: the job, or the error. */
const answer = (f: RotationFixture) =>
  f.services.admin.rotateNow('demo-key').then(
    (job) => job,
    (e: unknown) => e,
  );

/** Runs every queued job through the worker, as the queue trigger would, first delivery each. */
async function drain(f: RotationFixture): Promise<void> {
  for (let job = f.jobs.jobs.shift(); job; job = f.jobs.jobs.shift())
    await f.services.worker.handle(JSON.parse(JSON.stringify(job)) as unknown, 1);
}

describe('Class: EndpointAdminService', () => {
  describe('Method: register', () => {
    it('stores a valid endpoint with defaults filled in', async () => {
      // Prepare
      const f = buildRotationFixture();

      // Act
      const endpoint = await f.services.admin.register({ id: 'demo-key', arm });

      // Assess
      expect(endpoint).toMatchObject({
        id: 'demo-key',
        kind: 'onlineEndpoint',
        authMode: 'Key',
        secretName: 'demo-key-key',
        rotationPeriodHours: 100,
        gracePeriodHours: 25,
        enabled: true,
        brokerKeyAccess: false,
      });
      expect(await f.registry.get('demo-key')).toEqual(endpoint);
    });

    it('accepts the fields auto-registration sends', async () => {
      const f = buildRotationFixture();
      const endpoint = await f.services.admin.register({
        id: 'auto-one',
        kind: 'serverlessEndpoint',
        arm,
        authMode: 'Key',
        secretName: 'auto-one',
      });
      expect(endpoint.kind).toBe('serverlessEndpoint');
    });

    it('names every invalid field at once', async () => {
      // Prepare
      const f = buildRotationFixture();

      // Act
      const fields = await issuesOf(
        f.services.admin.register({
          id: 'Bad_ID',
          kind: 'batch',
          authMode: 'Password',
          arm: { subscriptionId: '', resourceGroup: 'rg', workspace: 'w', name: '-x' },
          secretName: 'has spaces',
          gracePeriodHours: 2,
          probe: { method: 'PUT', acceptedStatuses: [401] },
          enabled: 'yes',
          colour: 'blue',
        }),
      );

      // Assess
      expect(fields).toEqual([
        'arm.name',
        'arm.subscriptionId',
        'arm.workspace',
        'authMode',
        'colour',
        'enabled',
        'gracePeriodHours',
        'id',
        'kind',
        'probe.acceptedStatuses',
        'probe.method',
        'secretName',
      ]);
    });

    it('names only the id, not the secretName the caller left out, when the id is missing or malformed', async () => {
      // Prepare: the default secret name is derived from the id, so a bad id used to make it bad as well
      const f = buildRotationFixture();

      // Act
      const missing = await issuesOf(f.services.admin.register({ arm }));
      const malformed = await issuesOf(f.services.admin.register({ id: 'Fraud_1', arm }));
      const both = await issuesOf(
        f.services.admin.register({ id: 'Fraud_1', arm, secretName: 'has spaces' }),
      );

      // Assess: a secretName the caller did send is still checked
      expect(missing).toEqual(['id']);
      expect(malformed).toEqual(['id']);
      expect(both).toEqual(['id', 'secretName']);
    });

    it('enforces secret-name length with room for the -pending suffix, and period longer than grace', async () => {
      const f = buildRotationFixture();
      const fields = await issuesOf(
        f.services.admin.register({
          id: 'demo-key',
          arm,
          secretName: 'a'.repeat(120),
          rotationPeriodHours: 25,
          gracePeriodHours: 25,
        }),
      );
      expect(fields).toEqual(['rotationPeriodHours', 'secretName']);
      await expect(
        f.services.admin.register({ id: 'demo-key', arm, secretName: 'a'.repeat(119) }),
      ).resolves.toBeDefined();
    });

    it('caps both periods at ten years, so due times and secret expiries stay valid dates', async () => {
      // Prepare
      const f = buildRotationFixture();
      const longest = { id: 'longest', arm, rotationPeriodHours: 87_600, gracePeriodHours: 87_599 };
      f.keys.add('longest', { authMode: 'Key' });

      // Act
      const huge = await issuesOf(f.services.admin.register({ id: 'huge', arm, rotationPeriodHours: 1e300 }));
      const over = await issuesOf(
        f.services.admin.register({ id: 'over', arm, rotationPeriodHours: 87_600.5 }),
      );
      const hugeGrace = await issuesOf(
        f.services.admin.register({
          id: 'huge-grace',
          arm,
          gracePeriodHours: 1e300,
          rotationPeriodHours: 1e301,
        }),
      );
      await f.services.admin.register(longest);
      const patched = await issuesOf(f.services.admin.update('longest', { rotationPeriodHours: 1e300 }));
      await f.services.rotator.run({ endpointId: 'longest', reason: 'manual', requestedAt: '' });
      const status = await f.services.admin.status('longest');
      const secret = await f.secrets.getCurrent('longest-key');

      // Assess
      expect(huge).toEqual(['rotationPeriodHours']);
      expect(over).toEqual(['rotationPeriodHours']);
      expect(hugeGrace).toEqual(['gracePeriodHours', 'rotationPeriodHours']);
      expect(patched).toEqual(['rotationPeriodHours']);
      expect(status.nextDueAt).toBe(
        new Date(Date.parse(status.lastRotatedAt!) + 87_600 * 3_600_000).toISOString(),
      );
      expect(secret?.expiresOn?.getTime()).toBeGreaterThan(Date.parse(status.nextDueAt!));
    });

    it('refuses a probe that cannot prove a key: no statuses, a status outside 200-599, a path not starting with / or ?', async () => {
      // Prepare
      const f = buildRotationFixture();
      const probes = [
        { acceptedStatuses: [] },
        { acceptedStatuses: [199] },
        { acceptedStatuses: [200, 600] },
        { acceptedStatuses: [200.5] },
        { path: 'score' },
        { path: 'x'.repeat(2001) },
      ];

      // Act
      const refused = [];
      for (const [i, probe] of probes.entries())
        refused.push(await issuesOf(f.services.admin.register({ id: `probe-${i}`, arm, probe })));
      const accepted = await f.services.admin.register({
        id: 'probe-ok',
        arm,
        probe: { path: '?verbose=true', acceptedStatuses: [200, 599] },
      });

      // Assess
      expect(refused).toEqual([
        ['probe.acceptedStatuses'],
        ['probe.acceptedStatuses'],
        ['probe.acceptedStatuses'],
        ['probe.acceptedStatuses'],
        ['probe.path'],
        ['probe.path'],
      ]);
      expect(accepted.probe).toMatchObject({ path: '?verbose=true', acceptedStatuses: [200, 599] });
      expect([...f.registry.endpoints.keys()]).toEqual(['probe-ok']);
    });

    it('refuses broker key access when the grace period is not longer than the minimum token lifetime', async () => {
      // Prepare: a demo-speed deployment (grace may be as short as 36 s) with the broker's 300-s minimum.
      const f = buildRotationFixture({ rules: { minGraceHours: 0.01, brokerMinLifetimeSeconds: 300 } });
      const endpoint = { arm, authMode: 'Key', brokerKeyAccess: true, rotationPeriodHours: 1 };

      // Act
      const short = await issuesOf(
        f.services.admin.register({ ...endpoint, id: 'short', gracePeriodHours: 0.05 }),
      );
      const longer = await f.services.admin.register({ ...endpoint, id: 'longer', gracePeriodHours: 0.1 });
      const patched = await issuesOf(f.services.admin.update('longer', { gracePeriodHours: 0.08 }));
      const equal = await issuesOf(f.services.admin.update('longer', { gracePeriodHours: 300 / 3600 }));
      const belowMinimum = await issuesOf(f.services.admin.update('longer', { gracePeriodHours: 0.005 }));
      const tokenOnly = await f.services.admin.register({
        ...endpoint,
        id: 'no-key-access',
        secretName: 'no-key-access-key',
        arm: { ...arm, name: 'ep-2' },
        brokerKeyAccess: false,
        gracePeriodHours: 0.05,
      });

      // Assess: 180 s, 288 s and exactly 300 s are not enough; 360 s is; a grace period refused on its own
      // is named once; without key access nothing is checked.
      expect(short).toEqual(['brokerKeyAccess']);
      expect(longer.gracePeriodHours).toBe(0.1);
      expect(patched).toEqual(['brokerKeyAccess']);
      expect(equal).toEqual(['brokerKeyAccess']);
      expect(belowMinimum).toEqual(['gracePeriodHours']);
      expect(tokenOnly.brokerKeyAccess).toBe(false);
    });

    it('refuses a probe that would not fit one Table storage property, naming the field and the limit', async () => {
      // Prepare: the largest endpoint accepted, and one whose body takes one character more as stored
      const f = buildRotationFixture();
      const largest = largestEndpointInput();
      const overBody = largestEndpointInput(16_385);
      const manyStatuses = { id: 'many-statuses', arm, probe: { acceptedStatuses: Array(101).fill(200) } };

      // Act
      const accepted = await f.services.admin.register(largest);
      const error = await f.services.admin
        .register({ ...overBody, id: 'over-body' })
        .catch((e: unknown) => e);
      const reported = await issuesOf(
        f.services.admin.register({ id: 'reported', arm, probe: { body: 'x'.repeat(40_000) } }),
      );
      const statuses = await issuesOf(f.services.admin.register(manyStatuses));

      // Assess
      expect(JSON.stringify({ ...accepted, retiredAt: accepted.createdAt }).length).toBeLessThanOrEqual(
        32_768,
      );
      expect(error).toMatchObject({ status: 400, issues: [{ field: 'probe.body' }] });
      expect((error as ValidationError).message).toMatch(/at most 16384 characters as stored.*32768/);
      expect(reported).toEqual(['probe.body']);
      expect(statuses).toEqual(['probe.acceptedStatuses']);
      expect(f.registry.endpoints.size).toBe(1);
    });

    it('refuses duplicate ids and secret names', async () => {
      const f = buildRotationFixture();
      await f.services.admin.register({ id: 'demo-key', arm, secretName: 'shared' });
      await expect(f.services.admin.register({ id: 'demo-key', arm })).rejects.toThrow(EndpointExistsError);
      await expect(f.services.admin.register({ id: 'other-one', arm, secretName: 'shared' })).rejects.toThrow(
        EndpointExistsError,
      );
    });

    it('compares secret names as Key Vault does, ignoring case', async () => {
      // Prepare
      const f = buildRotationFixture();
      await f.services.admin.register({ id: 'demo-key', arm, secretName: 'Shared' });
      await f.services.admin.register({ id: 'other-one', arm: { ...arm, name: 'ep-2' } });

      // Act
      const registered = f.services.admin.register({
        id: 'third-one',
        arm: { ...arm, name: 'ep-3' },
        secretName: 'SHARED',
      });
      const renamed = f.services.admin.update('other-one', { secretName: 'shared' });

      // Assess
      await expect(registered).rejects.toThrow('Secret SHARED already belongs to endpoint demo-key.');
      await expect(renamed).rejects.toThrow(EndpointExistsError);
      expect(f.registry.endpoints.get('other-one')?.secretName).toBe('other-one-key');
    });

    it("refuses a secret name that is another endpoint's pending secret", async () => {
      const f = buildRotationFixture();
      for (const secretName of ['demo-key-pending', 'Demo-Key-PENDING'])
        expect(await issuesOf(f.services.admin.register({ id: 'other-one', arm, secretName }))).toEqual([
          'secretName',
        ]);
    });
  });

  describe('Method: update', () => {
    it('merges a patch and re-validates the whole endpoint', async () => {
      // Prepare
      const f = buildRotationFixture();
      await f.services.admin.register({ id: 'demo-key', arm });

      // Act
      const updated = await f.services.admin.update('demo-key', {
        rotationPeriodHours: 48,
        arm: { name: 'ep-2' },
      });

      // Assess
      expect(updated).toMatchObject({ rotationPeriodHours: 48, arm: { ...arm, name: 'ep-2' } });
      expect(await issuesOf(f.services.admin.update('demo-key', { gracePeriodHours: 60 }))).toEqual([
        'rotationPeriodHours',
      ]);
      expect(await issuesOf(f.services.admin.update('demo-key', { id: 'other-id' }))).toEqual(['id']);
    });

    it('merges probe and v1 field by field, as it does arm', async () => {
      // Prepare
      const f = buildRotationFixture();
      const probe = { method: 'POST', path: '/score', body: '{"rows":[1]}', acceptedStatuses: [200] };
      await f.services.admin.register({ id: 'demo-key', arm, probe });
      await f.services.admin.register({
        id: 'v1-one',
        kind: 'v1WebService',
        arm: { ...arm, name: 'v1-one' },
        v1: { computeType: 'AKS', region: 'westeurope' },
      });

      // Act
      const statuses = await f.services.admin.update('demo-key', { probe: { acceptedStatuses: [200, 422] } });
      const region = await f.services.admin.update('v1-one', { v1: { region: 'northeurope' } });

      // Assess
      expect(statuses.probe).toEqual({ ...probe, acceptedStatuses: [200, 422] });
      expect(region.v1).toEqual({ computeType: 'AKS', region: 'northeurope' });
    });

    it('refuses an arm, probe or v1 that is not an object, and unknown fields inside them, as POST does', async () => {
      // Prepare
      const f = buildRotationFixture();
      await f.services.admin.register({ id: 'demo-key', arm });
      const before = await f.registry.get('demo-key');

      // Act
      const notObjects = [];
      for (const field of ['arm', 'probe', 'v1'])
        for (const value of ['x', 42, null, []])
          notObjects.push({
            field,
            value,
            issues: await issuesOf(f.services.admin.update('demo-key', { [field]: value })),
          });
      const patched = await issuesOf(
        f.services.admin.update('demo-key', { arm: { subscriptonId: 'sub-2' }, probe: { mehtod: 'GET' } }),
      );
      const posted = await issuesOf(
        f.services.admin.register({
          id: 'other-one',
          arm: { ...arm, subscriptonId: 'x' },
          probe: { mehtod: 'GET' },
        }),
      );

      // Assess
      for (const { field, value, issues } of notObjects)
        expect({ field, value, issues }).toEqual({ field, value, issues: [field] });
      expect(patched).toEqual(['arm.subscriptonId', 'probe.mehtod']);
      expect(posted).toEqual(['arm.subscriptonId', 'probe.mehtod']);
      expect(await f.registry.get('demo-key')).toEqual(before);
    });

    it('keeps the fields a newer version stored, unchecked and unchanged, and still refuses unknown fields in the patch', async () => {
      // Prepare: a newer version, deployed beside this one, stored fields this version does not know
      const f = buildRotationFixture();
      const registered = await f.services.admin.register({ id: 'demo-key', arm });
      const newer = { owner: { team: 'scoring' }, notifyOnRotation: true };
      f.registry.endpoints.set('demo-key', { ...registered, ...newer });

      // Act
      const updated = await f.services.admin.update('demo-key', { rotationPeriodHours: 48 });
      const misspelt = await issuesOf(f.services.admin.update('demo-key', { rotationPeriodHour: 48 }));

      // Assess
      expect(updated).toMatchObject({ rotationPeriodHours: 48, ...newer });
      expect(await f.registry.get('demo-key')).toEqual(updated);
      expect(misspelt).toEqual(['rotationPeriodHour']);
    });

    it.each([
      ['kind', { kind: 'managedComputeEndpoint' }],
      ['authMode', { authMode: 'ManagedIdentityToken' }],
    ] as const)(
      'refuses a patch of an endpoint whose %s this version does not know with a conflict naming no field, and changes nothing',
      async (field, newer) => {
        // Prepare: a newer version, deployed beside this one, registered the endpoint with a value added since
        const f = buildRotationFixture();
        const registered = await f.services.admin.register({ id: 'demo-key', arm });
        const stored = { ...registered, ...newer } as unknown as typeof registered;
        f.registry.endpoints.set('demo-key', stored);

        // Act
        const answer = await f.services.admin.update('demo-key', { rotationPeriodHours: 48 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        const sentByCaller = await issuesOf(f.services.admin.update('demo-key', newer));

        // Assess: a 409 that says why (not a 400 naming a field the caller never sent); a patch that
        // names the value itself is still a 400 naming it
        expect(answer).toBeInstanceOf(EndpointNotKnownHereError);
        expect(answer).toMatchObject({ status: 409, code: 'ENDPOINT_NOT_KNOWN_HERE' });
        expect((answer as Error).message).toContain(`${field} ${Object.values(newer)[0]}`);
        expect(sentByCaller).toEqual([field]);
        expect(await f.registry.get('demo-key')).toEqual(stored);
        await expect(f.services.admin.status('demo-key')).resolves.toMatchObject({ endpoint: stored });
      },
    );

    it('refuses to change file-declared endpoints', async () => {
      const f = buildRotationFixture();
      f.addEndpoint();
      f.registry.readOnly.add('demo-key');
      await expect(f.services.admin.update('demo-key', { enabled: false })).rejects.toThrow(
        EndpointReadOnlyError,
      );
      await expect(f.services.admin.remove('demo-key')).rejects.toThrow(EndpointReadOnlyError);
    });
  });

  describe('Method: register / update (the Key Vault secret of an ENDPOINTS_FILE entry)', () => {
    const entryOwns = (name: string) =>
      `Secret ${name} already belongs to endpoint from-file, which ENDPOINTS_FILE declares: it rotates the keys ` +
      'of its own Azure ML endpoint into that secret. Name a Key Vault secret of its own in secretName (the ' +
      'entry changes only with ENDPOINTS_FILE).';
    /** A row registered before the file declared its secret (in another case) for another endpoint, and another row. */
    const fixture = () => {
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'from-file', secretName: 'shared-secret' });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', secretName: 'Shared-Secret' });
      f.addEndpoint({ id: 'other-row' });
      return f;
    };

    it('refuses a registration or a rename onto the secret 409 ENDPOINT_EXISTS, saying the owner is an ENDPOINTS_FILE entry and what to do', async () => {
      // Prepare
      const f = fixture();

      // Act
      const registered = await f.services.admin
        .register({ id: 'new-row', arm, secretName: 'SHARED-SECRET' })
        .catch((e: unknown) => e);
      const renamed = await f.services.admin
        .update('other-row', { secretName: 'shared-SECRET' })
        .catch((e: unknown) => e);

      // Assess
      expect(registered).toBeInstanceOf(EndpointExistsError);
      expect(registered).toMatchObject({ status: 409, message: entryOwns('SHARED-SECRET') });
      expect(renamed).toMatchObject({ code: 'ENDPOINT_EXISTS', message: entryOwns('shared-SECRET') });
      expect(f.registry.endpoints.has('new-row')).toBe(false);
      expect(f.registry.endpoints.get('other-row')?.secretName).toBe('other-row-secret');
    });

    it('changes a row that keeps the secret (disabled, enabled again, its probe): it stays not rotated, the entry keeps the secret', async () => {
      // Prepare
      const f = fixture();

      // Act
      const disabled = await f.services.admin.update('old-row', { enabled: false });
      const probed = await f.services.admin.update('old-row', { enabled: true, probe: { path: '/score' } });
      const status = await f.services.admin.status('old-row');

      // Assess
      expect(disabled.enabled).toBe(false);
      expect(probed).toMatchObject({ enabled: true, secretName: 'Shared-Secret', probe: { path: '/score' } });
      expect(status.declaredInFile?.entry).toBe('from-file');
      expect((await f.registry.findBySecretName('shared-secret'))?.id).toBe('from-file');
    });

    it("still refuses a PATCH of a row onto another entry's secret, and one of a row keeping a secret another stored row owns", async () => {
      // Prepare: a second entry, and two rows from before the claims sharing a secret
      const f = fixture();
      f.addEndpoint({ id: 'file-two', secretName: 'second-secret' });
      f.registry.readOnly.add('file-two');
      f.addEndpoint({ id: 'first-sharer', secretName: 'pair-secret' });
      f.addEndpoint({ id: 'second-sharer', secretName: 'PAIR-secret' });

      // Act
      const moved = await f.services.admin
        .update('old-row', { secretName: 'second-secret', enabled: false })
        .catch((e: unknown) => e);
      const sharer = await f.services.admin
        .update('second-sharer', { enabled: false })
        .catch((e: unknown) => e);

      // Assess
      expect(moved).toMatchObject({
        code: 'ENDPOINT_EXISTS',
        message: entryOwns('second-secret').replace('from-file', 'file-two'),
      });
      expect(sharer).toMatchObject({
        code: 'ENDPOINT_EXISTS',
        message: 'Secret PAIR-secret already belongs to endpoint first-sharer.',
      });
      expect(f.registry.endpoints.get('old-row')).toMatchObject({
        secretName: 'Shared-Secret',
        enabled: true,
      });
      expect(f.registry.endpoints.get('second-sharer')?.enabled).toBe(true);
    });
  });

  describe('Method: remove / retire', () => {
    it('removes and retires endpoints, and 404s unknown ones', async () => {
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'first-one' });
      f.addEndpoint({ id: 'second-one' });
      await f.services.admin.remove('first-one');
      const retired = await f.services.admin.retire('second-one', '2026-02-01T00:00:00.000Z');
      expect(await f.registry.get('first-one')).toBeUndefined();
      expect(retired.retiredAt).toBe('2026-02-01T00:00:00.000Z');
      await expect(f.services.admin.remove('nope-one')).rejects.toThrow(EndpointNotFoundError);
    });

    it('gives an endpoint registered under a deleted one’s id a rotation history of its own', async () => {
      // Prepare: demo-key rotated, then a rotation of it failed at the test step and was left in progress
      const f = buildRotationFixture();
      f.addEndpoint();
      const run = () => rotateDemoKeyNow(f);
      await run();
      f.clock.advanceHours(30);
      f.probe.forceStatus = 401;
      await run().catch(() => undefined);
      f.probe.forceStatus = undefined;
      await f.services.admin.remove('demo-key');

      // Act: the id is registered again, for an endpoint with a secret of its own
      await f.services.admin.register({ id: 'demo-key', arm, secretName: 'other-secret' });
      const status = await f.services.admin.status('demo-key');
      const scheduled = await f.services.scheduler.enqueueDue();
      const outcome = await run();

      // Assess
      expect(status).not.toHaveProperty('lastRotatedAt');
      expect(status).not.toHaveProperty('lastError');
      expect(status).not.toHaveProperty('inProgress');
      expect(scheduled).toEqual({ due: 1, enqueued: 1, failed: 0 });
      expect(outcome).toMatchObject({ status: 'rotated', resumed: false });
      expect(await f.secrets.getCurrent('other-secret')).toBeDefined();
    });

    it('keeps the schedule of an endpoint deleted and registered again with the secret it rotated', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      await f.services.admin.remove('demo-key');

      // Act
      await f.services.admin.register({ id: 'demo-key', arm, secretName: 'demo-key-secret' });
      const status = await f.services.admin.status('demo-key');
      const scheduled = await f.services.scheduler.enqueueDue();

      // Assess
      expect(status).toMatchObject({ lastRotatedAt: '2026-01-01T00:00:00.000Z' });
      expect(scheduled).toEqual({ due: 0, enqueued: 0, failed: 0 });
    });

    it('reinstates a retired endpoint, and changes nothing for one that is not retired', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'first-one' });
      f.addEndpoint({ id: 'second-one' });
      await f.services.admin.retire('second-one', '2026-02-01T00:00:00.000Z');
      const active = await f.registry.get('first-one');

      // Act
      const reinstated = await f.services.admin.reinstate('second-one');
      const untouched = await f.services.admin.reinstate('first-one');

      // Assess
      expect(reinstated.retiredAt).toBeUndefined();
      expect(await f.registry.get('second-one')).toEqual(reinstated);
      expect(untouched).toEqual(active);
      await expect(f.services.admin.reinstate('nope-one')).rejects.toThrow(EndpointNotFoundError);
    });
  });

  describe('Method: retire after a late delete', () => {
    // FakeClock starts at 2026-01-01T00:00:00Z; Azure deleted the endpoint's resource an hour before.
    const deletedAt = '2025-12-31T23:00:00.0000000Z';

    it('keeps in service an endpoint registered after the delete (the delete was of the resource before it)', async () => {
      // Prepare
      const f = buildRotationFixture();
      await f.services.admin.register({ id: 'demo-key', arm });
      f.clock.advanceHours(1);

      // Act
      const kept = await f.services.admin.retire('demo-key', '2026-01-01T01:00:00.000Z', deletedAt);

      // Assess
      expect(kept.retiredAt).toBeUndefined();
      expect((await f.registry.get('demo-key'))?.retiredAt).toBeUndefined();
    });

    it('keeps in service an endpoint reinstated after the delete, and retires it for a later one', async () => {
      // Prepare: registered long ago, retired, reinstated at 00:00 (the re-created endpoint's write)
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'demo-key', createdAt: '2025-06-01T00:00:00.000Z' });
      await f.services.admin.retire('demo-key', '2025-12-31T22:00:00.000Z');
      const reinstated = await f.services.admin.reinstate('demo-key');
      f.clock.advanceHours(1);

      // Act
      const kept = await f.services.admin.retire('demo-key', '2026-01-01T01:00:00.000Z', deletedAt);
      const retired = await f.services.admin.retire(
        'demo-key',
        '2026-01-01T01:00:00.000Z',
        '2026-01-01T00:30:00Z',
      );

      // Assess
      expect(reinstated.reinstatedAt).toBe('2026-01-01T00:00:00.000Z');
      expect(kept.retiredAt).toBeUndefined();
      expect(retired.retiredAt).toBe('2026-01-01T01:00:00.000Z');
    });

    it('retires an endpoint registered before the delete', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'demo-key', createdAt: '2025-06-01T00:00:00.000Z' });

      // Act
      const retired = await f.services.admin.retire('demo-key', '2026-01-01T00:00:00.000Z', deletedAt);

      // Assess
      expect(retired.retiredAt).toBe('2026-01-01T00:00:00.000Z');
    });

    it('keeps reinstatedAt through a PATCH and ignores it in a request body', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'demo-key' });
      await f.services.admin.retire('demo-key', '2025-12-31T22:00:00.000Z');
      await f.services.admin.reinstate('demo-key');
      f.clock.advanceHours(1);

      // Act
      const patched = await f.services.admin.update('demo-key', {
        enabled: false,
        reinstatedAt: '2030-01-01T00:00:00.000Z',
      });
      const registered = await f.services.admin.register({
        id: 'other-key',
        arm: { ...arm, name: 'ep-2' },
        reinstatedAt: '2030-01-01T00:00:00.000Z',
      });

      // Assess
      expect(patched).toMatchObject({ enabled: false, reinstatedAt: '2026-01-01T00:00:00.000Z' });
      expect(registered).not.toHaveProperty('reinstatedAt');
    });
  });

  describe('Change notices', () => {
    it('reports each written endpoint once, and nothing for refused or empty writes', async () => {
      // Prepare
      const f = buildRotationFixture();

      // Act
      await f.services.admin.register({ id: 'first-one', arm });
      await f.services.admin.register({ id: 'second-one', arm: { ...arm, name: 'ep-2' } });
      await f.services.admin.update('first-one', { enabled: false });
      await issuesOf(f.services.admin.update('first-one', { gracePeriodHours: 1 }));
      await f.services.admin.retire('second-one', '2026-02-01T00:00:00.000Z');
      await f.services.admin.retire('second-one', '2026-02-02T00:00:00.000Z');
      await f.services.admin.remove('first-one');

      // Assess: the broker forgets exactly the endpoints whose registration changed.
      expect(f.changedEndpoints).toEqual(['first-one', 'second-one', 'first-one', 'second-one', 'first-one']);
    });
  });

  describe('Concurrent changes', () => {
    const at = '2026-02-01T00:00:00.000Z';

    it('keeps a retirement that lands while a PATCH is being written', async () => {
      // Prepare: Event Grid retires the endpoint between the PATCH's read and its write
      const f = buildRotationFixture();
      f.addEndpoint();
      f.registry.beforeReplace = async () => {
        await f.services.admin.retire('demo-key', at);
      };

      // Act
      const updated = await f.services.admin.update('demo-key', { rotationPeriodHours: 48 });

      // Assess
      expect(updated).toMatchObject({ rotationPeriodHours: 48, retiredAt: at });
      expect(await f.registry.get('demo-key')).toEqual(updated);
    });

    it('keeps a PATCH that lands while a retirement is being written', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      f.registry.beforeReplace = async () => {
        await f.services.admin.update('demo-key', { enabled: false });
      };

      // Act
      const retired = await f.services.admin.retire('demo-key', at);

      // Assess
      expect(retired).toMatchObject({ enabled: false, retiredAt: at });
      expect(await f.registry.get('demo-key')).toEqual(retired);
    });

    it('answers 409 ENDPOINT_CHANGED when other writes keep coming first', async () => {
      // Prepare: every attempt finds the endpoint rewritten since its read
      const f = buildRotationFixture();
      f.addEndpoint();
      let interleaved = 0;
      const interleave = async (): Promise<void> => {
        interleaved++;
        const current = await f.registry.getVersioned('demo-key');
        await f.registry.replace(current!.endpoint, current!.version);
        f.registry.beforeReplace = interleave;
      };
      f.registry.beforeReplace = interleave;

      // Act
      const error = await f.services.admin
        .update('demo-key', { rotationPeriodHours: 48 })
        .catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(EndpointChangedError);
      expect(error).toMatchObject({ status: 409, code: 'ENDPOINT_CHANGED' });
      expect(interleaved).toBe(5);
      expect((await f.registry.get('demo-key'))?.rotationPeriodHours).not.toBe(48);
    });

    it('answers 404 when the endpoint is removed before the write', async () => {
      const f = buildRotationFixture();
      f.addEndpoint();
      f.registry.beforeReplace = async () => {
        await f.services.admin.remove('demo-key');
      };
      await expect(f.services.admin.update('demo-key', { enabled: false })).rejects.toThrow(
        EndpointNotFoundError,
      );
      expect(await f.registry.get('demo-key')).toBeUndefined();
    });
  });

  describe('Method: status', () => {
    it('shows slot in use, last rotation, next due, last error with step and drift, but no key', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(100);
      f.probe.forceStatus = 401;
      await f.services.rotator
        .run({ endpointId: 'demo-key', reason: 'manual', requestedAt: '2026-01-01T00:00:00Z' })
        .catch(() => undefined);

      // Act
      const status = await f.services.admin.status('demo-key');

      // Assess
      expect(status).toMatchObject({
        slotInUse: 'Secondary',
        lastRotatedAt: '2026-01-01T00:00:00.000Z',
        nextDueAt: '2026-01-05T04:00:00.000Z',
        lastOutcome: 'failed',
        lastError: { code: 'NEW_KEY_NOT_ACCEPTED', step: 'test' },
        inProgress: { slot: 'Primary', step: 'set' },
      });
      const text = JSON.stringify(status);
      for (const key of f.keys.allKeys) expect(text).not.toContain(key);
      // The queue's redeliveries test again; the timer's last tries every tick would only alert again
      expect(status.waitingForOperatorUntil).toBe(
        new Date(Date.parse(status.lastError!.at) + 24 * 3_600_000).toISOString(),
      );
    });

    it('shows until when the timer leaves an endpoint alone after a failure only a person can fix', async () => {
      // Prepare: Key Vault holds a value that is neither key of the endpoint
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      f.secrets.seed('demo-key-secret', 'typed-by-hand');
      f.clock.advanceHours(800);
      const failedAt = f.clock.now();
      await f.services.worker.handle({ endpointId: 'demo-key', reason: 'schedule' }, 1);

      // Act
      const held = await f.services.admin.status('demo-key');
      f.clock.advanceHours(24);
      const after = await f.services.admin.status('demo-key');

      // Assess
      expect(held).toMatchObject({
        lastError: { code: 'DRIFT_DETECTED' },
        waitingForOperatorUntil: new Date(failedAt + 24 * 3_600_000).toISOString(),
      });
      expect(after.waitingForOperatorUntil).toBeUndefined();
    });
  });

  describe('Method: status (an endpoint a newer version registered)', () => {
    it.each([
      ['kind', { kind: 'managedComputeEndpoint' }],
      ['authMode', { authMode: 'ManagedIdentityToken' }],
    ] as const)(
      'says this version does not know its %s and leaves it to one that does, with no due time of its own',
      async (field, newer) => {
        // Prepare: a newer version, deployed beside this one, registered the endpoint and rotated it once
        const f = buildRotationFixture();
        f.addEndpoint();
        await rotateDemoKeyNow(f);
        const registered = f.registry.endpoints.get('demo-key');
        f.registry.endpoints.set('demo-key', { ...registered, ...newer } as unknown as ManagedEndpoint);
        f.clock.advanceHours(200);

        // Act
        const status = await f.services.admin.status('demo-key');

        // Assess: no nextDueAt (this version would not rotate it then, nor ever); what it does not know, and why
        expect(status.nextDueAt).toBeUndefined();
        expect(status.notKnownHere).toEqual({
          field,
          value: Object.values(newer)[0],
          note: expect.stringContaining('leaves it to a version that knows it') as unknown,
        });
        expect(status).toMatchObject({ lastRotatedAt: '2026-01-01T00:00:00.000Z', lastOutcome: 'succeeded' });
      },
    );

    it('shows nothing of the kind for an endpoint this version knows', async () => {
      const f = buildRotationFixture();
      f.addEndpoint();
      expect(await f.services.admin.status('demo-key')).not.toHaveProperty('notKnownHere');
    });
  });

  describe('Method: status (a registration at the Azure ML endpoint of an ENDPOINTS_FILE entry)', () => {
    it('names the entry that rotates its keys and what to do, with no due time of its own', async () => {
      // Prepare: a row registered before the file declared its endpoint
      const f = buildRotationFixture();
      const place = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'scoring' };
      f.addEndpoint({ id: 'from-file', arm: place });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', arm: place });

      // Act
      const row = await f.services.admin.status('old-row');
      const entry = await f.services.admin.status('from-file');

      // Assess
      expect(row.nextDueAt).toBeUndefined();
      expect(row.declaredInFile).toEqual({
        entry: 'from-file',
        note:
          'ENDPOINTS_FILE declares this Azure ML endpoint as from-file, which rotates its keys: old-row is not ' +
          "rotated, as the two would rotate them against each other. Point its clients at from-file's secret and " +
          'DELETE old-row.',
      });
      expect(entry).not.toHaveProperty('declaredInFile');
      expect(entry.nextDueAt).toBeDefined();
    });
  });

  describe('Method: status (a registration with the Key Vault secret of an ENDPOINTS_FILE entry)', () => {
    it('names the entry that rotates its own keys into that secret and what to do, with no due time of its own', async () => {
      // Prepare: a row registered before the file declared its secret (in another case) for another endpoint
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'from-file', secretName: 'shared-secret' });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', secretName: 'Shared-Secret' });

      // Act
      const row = await f.services.admin.status('old-row');

      // Assess
      expect(row.nextDueAt).toBeUndefined();
      expect(row.declaredInFile).toEqual({
        entry: 'from-file',
        note:
          'ENDPOINTS_FILE declares this Key Vault secret, Shared-Secret, for from-file, which rotates the keys of ' +
          "its own Azure ML endpoint into it: old-row is not rotated, as the two would overwrite each other's keys " +
          'there. PATCH its secretName to a secret of its own and point its clients at that, or DELETE old-row.',
      });
    });

    it('names the Azure ML endpoint, not the secret, of an entry that shares both', async () => {
      // Prepare: the file declares the row's very endpoint and secret under another id
      const f = buildRotationFixture();
      const place = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'scoring' };
      f.addEndpoint({ id: 'from-file', arm: place, secretName: 'shared-secret' });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', arm: place, secretName: 'shared-secret' });

      // Act
      const row = await f.services.admin.status('old-row');

      // Assess: deleting the row is the way out; a secret of its own would leave the endpoint rotated twice
      expect(row.declaredInFile?.note).toMatch(
        /^ENDPOINTS_FILE declares this Azure ML endpoint as from-file/,
      );
    });
  });

  describe('Method: status (unsent event)', () => {
    it('shows a KeyRotated event the journal still holds as unsent, until a run sends it and clears it', async () => {
      // Prepare: Table storage fails right after the publish, so the journal keeps the event as unsent
      const f = buildRotationFixture();
      f.addEndpoint();
      f.events.onPublish = () => void (f.journal.failRenewals = 1);
      await f.services.rotator.run({ endpointId: 'demo-key', reason: 'manual', requestedAt: '' });
      const journaled = (await f.journal.getState('demo-key')).state.unsentEvent;

      // Act
      const stopped = await f.services.admin.status('demo-key');
      f.events.onPublish = undefined;
      await f.services.rotator.run({ endpointId: 'demo-key', reason: 'schedule', requestedAt: '' });
      const sent = await f.services.admin.status('demo-key');

      // Assess
      expect(stopped.unsentEvent).toEqual({
        type: 'KeyRotated',
        eventId: journaled?.eventId,
        time: journaled?.event.time,
      });
      expect(sent.unsentEvent).toBeUndefined();
    });
  });

  describe('Method: status (an onboarding that stopped before its rotation)', () => {
    it('shows nextDueAt due now after an onboarding that stopped between its Key Vault write and its rotation', async () => {
      // Prepare: the run dies right after Key Vault took the endpoint's first version (Primary)
      const reference = buildRotationFixture();
      reference.addEndpoint();
      await rotateDemoKeyNow(reference);
      const f = buildRotationFixture();
      f.addEndpoint();
      f.faults.crashAfter(reference.faults.mutations.indexOf('kv.set:demo-key-secret') + 1);
      await expect(rotateDemoKeyNow(f)).rejects.toThrow(CrashError);
      f.faults.revive();
      f.clock.advanceHours(1);

      // Act
      const stopped = await f.services.admin.status('demo-key');
      f.clock.advance(601_000); // the crashed run's lease lapsed
      const outcome = await f.services.rotator.run({
        endpointId: 'demo-key',
        reason: 'schedule',
        requestedAt: '',
      });
      const rotatedAt = f.clock.now();
      const rotated = await f.services.admin.status('demo-key');

      // Assess: the next run rotates at once (the planner's rule), and the period counts from that rotation
      expect(stopped.slotInUse).toBe('Primary');
      expect(stopped.nextDueAt).toBe(new Date(f.clock.now() - 601_000).toISOString());
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Secondary' });
      expect(rotated.nextDueAt).toBe(new Date(rotatedAt + 100 * 3_600_000).toISOString());
    });

    it("counts the journal's last rotation, which the timer waits for, but not the onboarding version's tag", async () => {
      // Prepare: rotated at t0; 10 h later its secretName moved to a new secret, whose onboarding stopped after
      // its write (the journal keeps the rotation of the old secret)
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      const rotatedAt = f.clock.now();
      f.clock.advanceHours(10);
      await f.services.admin.update('demo-key', { secretName: 'demo-key-moved' });
      const { state } = await f.journal.getState('demo-key');
      f.journal.seedState('demo-key', { ...state, onboardingId: 'onboarding-1' });
      const { primaryKey } = await f.keys.listKeys(f.registry.endpoints.get('demo-key')!);
      f.secrets.seed('demo-key-moved', primaryKey, {
        slot: 'Primary',
        rotationId: 'onboarding-1',
        rotatedAt: new Date(f.clock.now()).toISOString(),
      });

      // Act
      const status = await f.services.admin.status('demo-key');

      // Assess
      expect(status.nextDueAt).toBe(new Date(rotatedAt + 100 * 3_600_000).toISOString());
    });
  });

  describe('Method: status (what POST …/rotate would answer)', () => {
    it('shows graceEndsAt, the end ROTATION_IN_GRACE names, until the grace period ends', async () => {
      // Prepare: rotated (onboarded from Primary, then Secondary rotated) an hour ago
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      const rotatedAt = f.clock.now();
      f.clock.advanceHours(1);

      // Act
      const inGrace = await f.services.admin.status('demo-key');
      const refused = await answer(f);
      f.clock.advance(rotatedAt + 25 * 3_600_000 - f.clock.now());
      const after = await f.services.admin.status('demo-key');
      const accepted = await answer(f);

      // Assess
      expect(refused).toBeInstanceOf(RotationInGraceError);
      expect(inGrace.graceEndsAt).toBe(new Date(rotatedAt + 25 * 3_600_000).toISOString());
      expect(inGrace.graceEndsAt).toBe((refused as RotationInGraceError).graceEndsAt);
      expect(after.graceEndsAt).toBeUndefined();
      expect(accepted).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
    });

    it('shows the later end after a version written by hand (no slot tag) while both slots are in grace, as the POST does', async () => {
      // Prepare: rotated at t0 (Secondary current); an hour later a person writes the Primary key without tags
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      const rotatedAt = f.clock.now();
      f.clock.advanceHours(1);
      const { primaryKey } = await f.keys.listKeys(f.registry.endpoints.get('demo-key')!);
      f.secrets.seed('demo-key-secret', primaryKey);
      const writtenAt = f.clock.now();
      f.clock.advanceHours(1);

      // Act
      const bothInGrace = await f.services.admin.status('demo-key');
      const refused = await answer(f);
      f.clock.advance(rotatedAt + 25 * 3_600_000 - f.clock.now());
      const oneInGrace = await f.services.admin.status('demo-key');

      // Assess
      expect(bothInGrace.graceEndsAt).toBe(new Date(writtenAt + 25 * 3_600_000).toISOString());
      expect(bothInGrace.graceEndsAt).toBe((refused as RotationInGraceError).graceEndsAt);
      expect(oneInGrace.graceEndsAt).toBeUndefined();
    });

    it('shows no graceEndsAt while a rotation is unfinished, which a POST resumes', async () => {
      // Prepare: rotated an hour ago; a later rotation stopped after its create step (as a run cut there leaves it)
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(1);
      const { state } = await f.journal.getState('demo-key');
      const startedAt = new Date(f.clock.now()).toISOString();
      f.journal.seedState('demo-key', {
        ...state,
        active: { rotationId: 'r-cut', slot: 'Primary', step: 'created', reason: 'manual', startedAt },
      });

      // Act
      const status = await f.services.admin.status('demo-key');
      const asked = await answer(f);

      // Assess
      expect(status.graceEndsAt).toBeUndefined();
      expect(status.inProgress).toMatchObject({ rotationId: 'r-cut', step: 'created' });
      expect(asked).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
    });

    it("reads Key Vault's versions only for an endpoint a POST would check for grace: none for a disabled one, or one never onboarded", async () => {
      // Prepare: rotated an hour ago, then disabled; another endpoint not onboarded yet
      const f = buildRotationFixture();
      f.addEndpoint();
      f.addEndpoint({ id: 'fresh-key' });
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(1);
      await f.services.admin.update('demo-key', { enabled: false });
      const listed = jest.spyOn(f.secrets, 'listVersions');

      // Act
      const disabled = await f.services.admin.status('demo-key');
      const fresh = await f.services.admin.status('fresh-key');

      // Assess: a disabled endpoint's POST answers 422; a fresh one's job onboards it
      expect(disabled.graceEndsAt).toBeUndefined();
      expect(fresh.graceEndsAt).toBeUndefined();
      expect(listed).not.toHaveBeenCalled();
    });

    it("shows rotationQueued naming the timer's waiting job, as ROTATION_ALREADY_QUEUED does, until a run takes it up", async () => {
      // Prepare: rotated long ago and due again; the timer queued its job
      const f = buildRotationFixture({ rules: { minGraceHours: 0 } });
      f.addEndpoint({ gracePeriodHours: 0 });
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(200);
      await f.services.scheduler.enqueueDue(f.clock.now());
      const [timerJob] = f.jobs.jobs;
      f.clock.advance(5_000);

      // Act
      const waiting = await f.services.admin.status('demo-key');
      const refused = await answer(f);
      await drain(f);
      const after = await f.services.admin.status('demo-key');

      // Assess
      expect(waiting.rotationQueued).toEqual({ queuedAt: timerJob!.requestedAt, queuedBy: 'timer' });
      expect(refused).toMatchObject({ code: 'ROTATION_ALREADY_QUEUED', ...waiting.rotationQueued });
      expect(waiting.manualRotationQueuedAt).toBeUndefined();
      expect(after.rotationQueued).toBeUndefined();
    });

    it("shows rotationQueued naming an operator's waiting job beside manualRotationQueuedAt, and none for a mark whose job finds nothing to do", async () => {
      // Prepare: a grace period of 0, so no grace period holds a request off
      const f = buildRotationFixture({ rules: { minGraceHours: 0 } });
      f.addEndpoint({ gracePeriodHours: 0 });
      await rotateDemoKeyNow(f);
      // A tick's mark that landed after the run's last write: its job would be skipped as not due
      await f.journal.markEnqueued('demo-key', new Date(f.clock.now()).toISOString());
      f.clock.advance(5_000);
      const stale = await f.services.admin.status('demo-key');

      // Act
      const queued = await f.services.admin.rotateNow('demo-key');
      const waiting = await f.services.admin.status('demo-key');
      const refused = await answer(f);

      // Assess
      expect(stale.rotationQueued).toBeUndefined();
      expect(waiting.rotationQueued).toEqual({ queuedAt: queued.requestedAt, queuedBy: 'operator' });
      expect(waiting.manualRotationQueuedAt).toBe(queued.requestedAt);
      expect(refused).toMatchObject({ code: 'ROTATION_ALREADY_QUEUED', ...waiting.rotationQueued });
    });

    it('shows no rotationQueued for an endpoint disabled since its job was queued: the worker skips the job, the POST answers 422', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(200);
      await f.services.scheduler.enqueueDue(f.clock.now());
      await f.services.admin.update('demo-key', { enabled: false });

      // Act
      const status = await f.services.admin.status('demo-key');

      // Assess
      expect(status.rotationQueued).toBeUndefined();
      expect(f.jobs.jobs).toHaveLength(1);
    });
  });

  describe('Method: rotateNow', () => {
    it('enqueues a manual job, 409s while a rotation runs and 422s token endpoints', async () => {
      const f = buildRotationFixture();
      f.addEndpoint();
      f.addEndpoint({ id: 'token-one', authMode: 'AMLToken' });
      const job = await f.services.admin.rotateNow('demo-key');
      expect(f.jobs.jobs).toEqual([job]);
      expect(job.reason).toBe('manual');
      await f.journal.acquireLease('demo-key', 'another-run', 60_000);
      await expect(f.services.admin.rotateNow('demo-key')).rejects.toThrow(RotationInProgressError);
      await expect(f.services.admin.rotateNow('token-one')).rejects.toThrow(AuthModeNotKeyError);
    });

    it.each([
      ['kind', { kind: 'managedComputeEndpoint' }],
      ['authMode', { authMode: 'ManagedIdentityToken' }],
    ] as const)(
      'refuses to rotate an endpoint whose %s this version does not know with the conflict a PATCH answers, and queues nothing',
      async (field, newer) => {
        // Prepare: a newer version, deployed beside this one, registered the endpoint with a value added since
        const f = buildRotationFixture();
        f.addEndpoint(newer as unknown as Partial<ManagedEndpoint>);

        // Act
        const answer = await f.services.admin.rotateNow('demo-key').then(
          () => undefined,
          (e: unknown) => e,
        );

        // Assess: not 422 "only Key endpoints have keys" (it may have), nor a job this version cannot vouch for
        expect(answer).toBeInstanceOf(EndpointNotKnownHereError);
        expect(answer).toMatchObject({ status: 409, code: 'ENDPOINT_NOT_KNOWN_HERE' });
        expect((answer as Error).message).toContain(`${field} ${Object.values(newer)[0]}`);
        expect(f.jobs.jobs).toEqual([]);
      },
    );

    it('refuses to rotate a registration with the Key Vault secret of an ENDPOINTS_FILE entry 409 ENDPOINT_DECLARED_IN_FILE naming the entry, and queues nothing', async () => {
      // Prepare: a row registered before the file declared its secret for another endpoint under another id
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'from-file', secretName: 'shared-secret' });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', secretName: 'shared-secret' });

      // Act
      const refused = await f.services.admin.rotateNow('old-row').then(
        () => undefined,
        (e: unknown) => e,
      );

      // Assess: a job would store the row's endpoint's keys over the entry's
      expect(refused).toBeInstanceOf(EndpointDeclaredInFileError);
      expect(refused).toMatchObject({
        status: 409,
        code: 'ENDPOINT_DECLARED_IN_FILE',
        endpointId: 'old-row',
        entryId: 'from-file',
      });
      expect((refused as Error).message).toBe(
        'Endpoint old-row is not rotated: ENDPOINTS_FILE declares its Key Vault secret shared-secret for from-file, ' +
          'which rotates the keys of its own Azure ML endpoint into it. PATCH the secretName of old-row to a ' +
          'secret of its own and point its clients at that, or DELETE old-row.',
      );
      expect(f.jobs.jobs).toEqual([]);
    });

    it('refuses to rotate a registration at the Azure ML endpoint of an ENDPOINTS_FILE entry 409 ENDPOINT_DECLARED_IN_FILE naming the entry, and queues nothing', async () => {
      // Prepare: a row registered before the file declared its endpoint under another id
      const f = buildRotationFixture();
      const place = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'scoring' };
      f.addEndpoint({ id: 'from-file', arm: place });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', arm: place });

      // Act
      const refused = await f.services.admin.rotateNow('old-row').then(
        () => undefined,
        (e: unknown) => e,
      );
      const queuedForEntry = await f.services.admin.rotateNow('from-file');

      // Assess: not 202 for a job the worker would skip (reason declaredInFile); the entry itself rotates
      expect(refused).toBeInstanceOf(EndpointDeclaredInFileError);
      expect(refused).toMatchObject({
        status: 409,
        code: 'ENDPOINT_DECLARED_IN_FILE',
        endpointId: 'old-row',
        entryId: 'from-file',
      });
      expect((refused as Error).message).toBe(
        'Endpoint old-row is not rotated: ENDPOINTS_FILE declares its Azure ML endpoint as from-file, which ' +
          'rotates its keys. Rotate from-file instead; point the clients of old-row at the secret of from-file ' +
          'and DELETE old-row.',
      );
      expect(f.jobs.jobs).toEqual([queuedForEntry]);
    });
  });

  describe('Method: rotateNow (a manual rotation already queued)', () => {
    it('answers a retried request 409 ROTATION_ALREADY_QUEUED naming when the waiting one was queued, so the endpoint rotates once', async () => {
      // Prepare: a grace period of 0 (ROTATION_MIN_GRACE_HOURS=0), so a second job would rotate the other slot
      const f = buildRotationFixture({ rules: { minGraceHours: 0 } });
      f.addEndpoint({ gracePeriodHours: 0 });
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(200);
      const before = f.keys.regenerations.length;

      // Act: the operator's script sends the POST again before the worker took the first job up
      const first = await f.services.admin.rotateNow('demo-key');
      f.clock.advance(5_000);
      const second = await answer(f);
      await drain(f);

      // Assess
      expect(second).toBeInstanceOf(RotationAlreadyQueuedError);
      expect(second).toMatchObject({
        status: 409,
        code: 'ROTATION_ALREADY_QUEUED',
        queuedAt: first.requestedAt,
      });
      expect((second as Error).message).toBe(
        `A manual rotation of endpoint demo-key was queued at ${first.requestedAt} and has not run yet; its ` +
          `outcome shows in the endpoint's status.`,
      );
      expect(f.keys.regenerations.length - before).toBe(1);
    });

    it('queues one job when two requests race, and answers the other 409', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();

      // Act: both read the journal before either writes its note
      const answers = await Promise.all([answer(f), answer(f)]);

      // Assess
      expect(f.jobs.jobs).toHaveLength(1);
      expect(answers).toContainEqual(f.jobs.jobs[0]);
      expect(answers.filter((a) => a instanceof RotationAlreadyQueuedError)).toHaveLength(1);
    });

    it('shows the waiting request in the status, and takes a new one once the worker is done with its job', async () => {
      // Prepare: a grace period of 0, so that the rotation the job makes does not hold the next request off
      // (ROTATION_IN_GRACE)
      const f = buildRotationFixture({ rules: { minGraceHours: 0 } });
      f.addEndpoint({ gracePeriodHours: 0 });
      const queued = await f.services.admin.rotateNow('demo-key');
      const waiting = await f.services.admin.status('demo-key');

      // Act
      await drain(f);
      const after = await f.services.admin.status('demo-key');
      const again = await answer(f);

      // Assess
      expect(waiting.manualRotationQueuedAt).toBe(queued.requestedAt);
      expect(after.manualRotationQueuedAt).toBeUndefined();
      expect(after.lastOutcome).toBe('succeeded');
      expect(again).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
      expect((await f.journal.getState('demo-key')).state.queuedManual?.requestId).toBe(
        (again as { requestId: string }).requestId,
      );
    });

    it('takes a new request an hour after a queued job that never ran (its message lost), not before', async () => {
      // Prepare: the message is gone (the queue cleared by hand)
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.admin.rotateNow('demo-key');
      f.jobs.jobs.length = 0;

      // Act
      f.clock.advance(60 * 60_000 - 1);
      const within = await answer(f);
      f.clock.advance(1);
      const after = await answer(f);

      // Assess
      expect(within).toBeInstanceOf(RotationAlreadyQueuedError);
      expect(after).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
      expect(f.jobs.jobs).toEqual([after]);
    });

    it('takes its note back when the job could not be queued, so that the retry is accepted', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      jest.spyOn(f.jobs, 'enqueue').mockRejectedValueOnce(new Error('queue unavailable'));

      // Act
      const failed = await answer(f);
      const retried = await answer(f);

      // Assess
      expect(failed).toEqual(new Error('queue unavailable'));
      expect(f.jobs.jobs).toEqual([retried]);
    });

    it('still answers 409 ROTATION_IN_PROGRESS while a run holds the lease', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      await f.services.admin.rotateNow('demo-key');
      await f.journal.acquireLease('demo-key', 'the-run', 60_000);

      // Act / Assess
      await expect(f.services.admin.rotateNow('demo-key')).rejects.toThrow(RotationInProgressError);
    });
  });

  describe('Method: rotateNow (inside the grace period)', () => {
    it('answers 409 ROTATION_IN_GRACE naming when the grace period ends, and queues nothing, where the worker would skip the job', async () => {
      // Prepare: rotated (onboarded from Primary, then Secondary rotated) an hour ago, by the timer say
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      const rotatedAt = f.clock.now();
      f.clock.advanceHours(1);
      const before = f.keys.regenerations.length;

      // Act
      const refused = await answer(f);
      const skipped = await f.services.rotator.run({
        endpointId: 'demo-key',
        reason: 'manual',
        requestedAt: new Date(f.clock.now()).toISOString(),
      });

      // Assess: Primary (what clients read until an hour ago) stays; the operator is told until when
      const endsAt = new Date(rotatedAt + 25 * 3_600_000).toISOString();
      expect(refused).toBeInstanceOf(RotationInGraceError);
      expect(refused).toMatchObject({
        status: 409,
        code: 'ROTATION_IN_GRACE',
        endpointId: 'demo-key',
        slot: 'Primary',
        graceEndsAt: endsAt,
      });
      expect((refused as Error).message).toBe(
        `Endpoint demo-key rotated less than its grace period (25 h) ago: a rotation now would regenerate ` +
          `Primary, which clients may still hold. Its grace period ends at ${endsAt}; POST again then.`,
      );
      expect(skipped).toMatchObject({ status: 'skipped', reason: 'inGrace' });
      expect((skipped as { detail: string }).detail).toContain(`grace ends ${endsAt}`);
      expect(f.jobs.jobs).toEqual([]);
      expect((await f.journal.getState('demo-key')).state.queuedManual).toBeUndefined();
      expect(f.keys.regenerations.length).toBe(before);
    });

    it('accepts the request once the grace period has ended, and the job rotates', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(25);
      f.clock.advance(-1);
      const within = await answer(f);
      f.clock.advance(1);
      const before = f.keys.regenerations.length;

      // Act
      const accepted = await answer(f);
      await drain(f);

      // Assess
      expect(within).toBeInstanceOf(RotationInGraceError);
      expect(accepted).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
      expect(f.keys.regenerations.length - before).toBe(1);
      expect((await f.services.admin.status('demo-key')).slotInUse).toBe('Primary');
    });

    it('accepts a request for an endpoint never rotated (its job onboards it)', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();

      // Act
      const first = await answer(f);
      await drain(f);

      // Assess
      expect(first).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
      expect((await f.services.admin.status('demo-key')).lastOutcome).toBe('succeeded');
    });

    it('refuses a request after a version written by hand (no slot tag) only while both slots are in grace, naming the later end', async () => {
      // Prepare: rotated at t0 (Secondary current); an hour later a person writes the Primary key as a new
      // version without tags (the drift remedy of operations.md)
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      const rotatedAt = f.clock.now();
      f.clock.advanceHours(1);
      const { primaryKey } = await f.keys.listKeys(f.registry.endpoints.get('demo-key')!);
      f.secrets.seed('demo-key-secret', primaryKey);
      const writtenAt = f.clock.now();

      // Act: either slot may be the one the hand-written value holds; each is in grace
      f.clock.advanceHours(1);
      const bothInGrace = await answer(f);
      f.clock.advance(rotatedAt + 25 * 3_600_000 - f.clock.now());
      const oneInGrace = await answer(f);

      // Assess: which slot the value holds is established by value, by the worker; the admin API does not read keys
      expect(bothInGrace).toBeInstanceOf(RotationInGraceError);
      expect(bothInGrace).toMatchObject({
        code: 'ROTATION_IN_GRACE',
        graceEndsAt: new Date(writtenAt + 25 * 3_600_000).toISOString(),
      });
      expect((bothInGrace as RotationInGraceError).slot).toBeUndefined();
      expect(oneInGrace).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
    });

    it('accepts a request while a rotation is unfinished, which its job resumes (a new test window after NEW_KEY_NOT_ACCEPTED)', async () => {
      // Prepare: rotated 30 h ago; the next rotation's new key was refused for the whole test window
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(30);
      f.probe.forceStatus = 401;
      await rotateDemoKeyNow(f).catch(() => undefined);
      f.probe.forceStatus = undefined;

      // Act: the slot rotated is in its own grace period by now no more than it was when the rotation started
      const asked = await answer(f);

      // Assess
      expect((await f.journal.getState('demo-key')).state.active).toBeDefined();
      expect(asked).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
    });

    it('reads Key Vault once a request passes the checks of the journal, not for a refused one', async () => {
      // Prepare: a run holds the lease
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      await f.journal.acquireLease('demo-key', 'the-run', 60_000);
      const reads = f.secrets.signals.length;

      // Act
      const refused = await answer(f);

      // Assess
      expect(refused).toBeInstanceOf(RotationInProgressError);
      expect(f.secrets.signals.length).toBe(reads);
    });
  });

  describe("Method: rotateNow (the timer's job waiting)", () => {
    /** demo-key rotated long ago and due again, with the timer's job for it queued and not yet taken up. */
    async function dueWithTimerJob(options: { gracePeriodHours?: number } = {}): Promise<RotationFixture> {
      const f = buildRotationFixture({ rules: { minGraceHours: 0 } });
      f.addEndpoint({ gracePeriodHours: options.gracePeriodHours ?? 25 });
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(200);
      await f.services.scheduler.enqueueDue(f.clock.now());
      expect(f.jobs.jobs).toHaveLength(1);
      return f;
    }

    it("answers 409 ROTATION_ALREADY_QUEUED naming when the timer's job was queued, and queues no second job", async () => {
      // Prepare: a grace period of 0, so a second job would rotate the other slot as well
      const f = await dueWithTimerJob({ gracePeriodHours: 0 });
      const [timerJob] = f.jobs.jobs;
      f.clock.advance(5_000);
      const before = f.keys.regenerations.length;

      // Act
      const refused = await answer(f);
      for (let job = f.jobs.jobs.shift(); job; job = f.jobs.jobs.shift())
        await f.services.worker.handle(JSON.parse(JSON.stringify(job)) as unknown, 1);

      // Assess: the endpoint rotates once, by the timer's job
      expect(refused).toBeInstanceOf(RotationAlreadyQueuedError);
      expect(refused).toMatchObject({
        status: 409,
        code: 'ROTATION_ALREADY_QUEUED',
        queuedAt: timerJob!.requestedAt,
      });
      expect((refused as Error).message).toBe(
        `A rotation job for endpoint demo-key was queued at ${timerJob!.requestedAt} (by the rotation timer, or ` +
          `put back on the queue by the worker) and has not run yet; its outcome shows in the endpoint's status.`,
      );
      expect(f.keys.regenerations.length - before).toBe(1);
      expect((await f.journal.getState('demo-key')).state.queuedManual).toBeUndefined();
    });

    it("accepts a request once a run took the timer's job up, and once the mark is an hour old (its message lost)", async () => {
      // Prepare
      const f = await dueWithTimerJob({ gracePeriodHours: 0 });
      f.jobs.jobs.length = 0; // the message is lost (the queue cleared by hand)

      // Act
      f.clock.advance(60 * 60_000 - 1);
      const within = await answer(f);
      f.clock.advance(1);
      const after = await answer(f);

      // Assess
      expect(within).toBeInstanceOf(RotationAlreadyQueuedError);
      expect(after).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
      expect(f.jobs.jobs).toEqual([after]);
    });

    it('accepts a request while a mark waits whose job finds nothing to do (it landed after a run rotated the endpoint)', async () => {
      // Prepare: a tick read the row before a run rotated the endpoint, and its mark landed after the run's last
      // write; its job will be skipped as not due (grace 0, so no grace period holds the request off either)
      const f = buildRotationFixture({ rules: { minGraceHours: 0 } });
      f.addEndpoint({ gracePeriodHours: 0 });
      await rotateDemoKeyNow(f);
      await f.journal.markEnqueued('demo-key', new Date(f.clock.now()).toISOString());
      f.clock.advance(5_000);

      // Act
      const accepted = await answer(f);

      // Assess
      expect(accepted).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
    });

    it('holds a request off for no longer than the endpoint period, as the timer does', async () => {
      // Prepare: a period of half an hour (grace 0): the timer queues again after that, so the mark lapses then
      const f = buildRotationFixture({ rules: { minGraceHours: 0 } });
      f.addEndpoint({ gracePeriodHours: 0, rotationPeriodHours: 0.5 });
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(1);
      await f.services.scheduler.enqueueDue(f.clock.now());
      f.jobs.jobs.length = 0;

      // Act
      f.clock.advance(30 * 60_000 - 1);
      const within = await answer(f);
      f.clock.advance(1);
      const after = await answer(f);

      // Assess
      expect(within).toBeInstanceOf(RotationAlreadyQueuedError);
      expect(after).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
    });
  });

  describe('An endpoint whose row cannot be read (edited by hand)', () => {
    const why = 'its endpoint column is not JSON';
    /** demo-key rotated once and left with a rotation in progress, then its row edited into something unreadable. */
    async function unreadableMidRotation(): Promise<RotationFixture> {
      const f = buildRotationFixture();
      f.addEndpoint();
      await rotateDemoKeyNow(f);
      f.clock.advanceHours(30);
      f.probe.forceStatus = 401;
      await rotateDemoKeyNow(f).catch(() => undefined);
      f.probe.forceStatus = undefined;
      const { kind, arm: at } = f.registry.endpoints.get('demo-key')!;
      f.registry.endpoints.delete('demo-key');
      f.registry.unreadable.set('demo-key', { why, secretName: 'demo-key-secret', at: { kind, arm: at } });
      return f;
    }
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (e: unknown) => e,
      );

    it('answers status, update and rotate now with 409 ENDPOINT_RECORD_UNREADABLE naming the id, what is wrong and the way out', async () => {
      // Prepare
      const f = await unreadableMidRotation();
      const { admin } = f.services;

      // Act
      const answers = await Promise.all([
        refusal(admin.status('demo-key')),
        refusal(admin.update('demo-key', { enabled: false })),
        refusal(admin.rotateNow('demo-key')),
        refusal(admin.retire('demo-key', '2026-02-01T00:00:00.000Z')),
      ]);

      // Assess: not 404 (the id is taken) nor a 500
      for (const answer of answers) {
        expect(answer).toBeInstanceOf(EndpointRecordUnreadableError);
        expect(answer).toMatchObject({
          status: 409,
          code: 'ENDPOINT_RECORD_UNREADABLE',
          endpointId: 'demo-key',
        });
        expect((answer as Error).message).toContain(
          `demo-key is stored in a form this app cannot read: ${why}`,
        );
        expect((answer as Error).message).toContain('DELETE it and register it again');
      }
      expect(f.jobs.jobs).toEqual([]);
    });

    it('refuses to register the id again before its journal is touched: the rotation in progress is kept', async () => {
      // Prepare
      const f = await unreadableMidRotation();
      const journalBefore = f.journal.dump();

      // Act
      const answer = await refusal(
        f.services.admin.register({ id: 'demo-key', arm, secretName: 'other-secret' }),
      );

      // Assess: neither reset (an abandoned step, a cleared state) nor a lease taken for it
      expect(answer).toBeInstanceOf(EndpointRecordUnreadableError);
      expect(f.journal.dump()).toBe(journalBefore);
      expect(f.journal.steps.filter((s) => s.step === 'abandoned')).toEqual([]);
      expect(f.registry.endpoints.has('demo-key')).toBe(false);
    });

    it('deletes it (the way out), after which the id registers again with a history of its own', async () => {
      // Prepare
      const f = await unreadableMidRotation();

      // Act
      await f.services.admin.remove('demo-key');
      const registered = await f.services.admin.register({ id: 'demo-key', arm, secretName: 'other-secret' });
      const status = await f.services.admin.status('demo-key');

      // Assess
      expect(f.registry.unreadable.has('demo-key')).toBe(false);
      expect(f.changedEndpoints).toContain('demo-key');
      expect(registered.secretName).toBe('other-secret');
      expect(status).not.toHaveProperty('inProgress');
      expect(f.journal.steps.filter((s) => s.step === 'abandoned')).toHaveLength(1);
    });

    it('refuses another registration of the Azure ML endpoint it holds, naming it, until it is deleted', async () => {
      // Prepare: its coordinates may still be these
      const f = await unreadableMidRotation();
      const { admin } = f.services;
      const itsPlace = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'demo-key' };

      // Act
      const whileUnreadable = await refusal(admin.register({ id: 'newcomer', arm: itsPlace }));
      const lookup = await refusal(f.registry.findByArm('onlineEndpoint', itsPlace));
      await admin.remove('demo-key');
      const afterDelete = await admin.register({ id: 'newcomer', arm: itsPlace });

      // Assess: not ENDPOINT_ALREADY_REGISTERED (it is no registration to name), nor a second registration
      for (const answer of [whileUnreadable, lookup])
        expect(answer).toMatchObject({
          status: 409,
          code: 'ENDPOINT_RECORD_UNREADABLE',
          endpointId: 'demo-key',
        });
      expect(afterDelete.id).toBe('newcomer');
    });

    it('ends a queued job for it with a logged reason, on its first delivery, and journals nothing', async () => {
      // Prepare
      const f = await unreadableMidRotation();
      const journalBefore = f.journal.dump();
      const job = { endpointId: 'demo-key', reason: 'expired', requestedAt: '2026-01-02T00:00:00Z' };

      // Act: the first delivery (a rethrow would be retried 5 times, then poisoned)
      const outcome = await f.services.worker.handle(job, 1);

      // Assess
      expect(outcome).toMatchObject({ status: 'skipped', endpointId: 'demo-key', reason: 'unreadable' });
      expect((outcome as { detail?: string }).detail).toContain(why);
      expect(f.journal.dump()).toBe(journalBefore);
      expect(f.logs).toContainEqual(
        expect.stringMatching(
          /^warn .*rotate => endpoint row unreadable, skipped until a person mends it endpointId=demo-key code=ENDPOINT_RECORD_UNREADABLE/,
        ),
      );
    });
  });
});

describe('Class: EndpointAdminService (the endpoint read at Azure first)', () => {
  /** A registration check that records what it was asked, and refuses with `refusal` when set. */
  class RecordingCheck implements RegistrationCheck {
    readonly verified: string[] = [];
    refusal?: Error;
    async verify(endpoint: ManagedEndpoint): Promise<void> {
      this.verified.push(`${endpoint.id}:${endpoint.arm.name}:${endpoint.authMode}`);
      if (this.refusal) throw this.refusal;
    }
  }
  const notFound = () =>
    new AzureEndpointNotFoundError('/subscriptions/…/onlineEndpoints/ep-x', ['arm.name'], '404');

  it('reads the endpoint before a registration, and writes nothing, journal included, when refused', async () => {
    // Prepare: the id was registered before, deleted, and left rotation state in the journal
    const check = new RecordingCheck();
    const f = buildRotationFixture({ registrationCheck: check });
    f.journal.seedState('demo-key', { lastRotatedAt: '2026-01-01T00:00:00.000Z', lastRotationId: 'r-old' });
    const journalBefore = f.journal.dump();
    check.refusal = notFound();

    // Act
    const refused = f.services.admin.register({ id: 'demo-key', arm });

    // Assess
    await expect(refused).rejects.toBe(check.refusal);
    expect(check.verified).toEqual(['demo-key:ep-1:Key']);
    expect(await f.registry.get('demo-key')).toBeUndefined();
    expect(f.journal.dump()).toBe(journalBefore);
    expect(f.changedEndpoints).toEqual([]);
  });

  it('answers a taken id or Azure ML endpoint from the registry alone, without reading ARM', async () => {
    // Prepare
    const check = new RecordingCheck();
    const f = buildRotationFixture({ registrationCheck: check });
    await f.services.admin.register({ id: 'first', arm });
    check.verified.length = 0;

    // Act
    const sameId = f.services.admin.register({
      id: 'first',
      arm: { ...arm, name: 'ep-2' },
      secretName: 's2',
    });
    const sameEndpoint = f.services.admin.register({ id: 'second', arm });

    // Assess
    await expect(sameId).rejects.toThrow(EndpointExistsError);
    await expect(sameEndpoint).rejects.toMatchObject({ code: 'ENDPOINT_ALREADY_REGISTERED' });
    expect(check.verified).toEqual([]);
  });

  it('reads the endpoint on a PATCH that moves it or asks it for keys, not on one that changes nothing of that', async () => {
    // Prepare
    const check = new RecordingCheck();
    const f = buildRotationFixture({ registrationCheck: check });
    await f.services.admin.register({ id: 'tok', arm, authMode: 'AMLToken' });
    check.verified.length = 0;

    // Act
    await f.services.admin.update('tok', { rotationPeriodHours: 200, enabled: false });
    await f.services.admin.update('tok', { arm: { name: 'ep-2' } });
    await f.services.admin.update('tok', { authMode: 'Key' });

    // Assess
    expect(check.verified).toEqual(['tok:ep-2:AMLToken', 'tok:ep-2:Key']);
  });

  it('keeps the stored endpoint when the move is refused', async () => {
    // Prepare
    const check = new RecordingCheck();
    const f = buildRotationFixture({ registrationCheck: check });
    const before = await f.services.admin.register({ id: 'demo-key', arm });
    check.refusal = notFound();

    // Act
    const moved = f.services.admin.update('demo-key', { arm: { name: 'ep-typo' } });

    // Assess
    await expect(moved).rejects.toBeInstanceOf(AzureEndpointNotFoundError);
    expect(await f.registry.get('demo-key')).toEqual(before);
  });
});
