import { TimeLimitError } from '../../../shared/clock';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { EndpointNotFoundError, EndpointNotKnownHereError } from '../../../shared/rotation/errors';
import { buildRotationFixture } from '../../fakes/rotation/buildRotationFixture';

describe('Class: DriftDetector', () => {
  describe('Method: check', () => {
    it('reports in sync with the slot Key Vault holds', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({}, { primaryKey: 'p-1', secondaryKey: 's-1' });
      f.secrets.seed('demo-key-secret', 's-1');

      // Act
      const report = await f.services.drift.check('demo-key');

      // Assess
      expect(report).toMatchObject({ inSync: true, status: 'inSync', slot: 'Secondary' });
      expect(JSON.stringify(report)).not.toContain('s-1');
    });

    it('reports drift and records it on the journal row when Key Vault matches neither key', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({}, { primaryKey: 'p-1', secondaryKey: 's-1' });
      f.secrets.seed('demo-key-secret', 'something-else');

      // Act
      const report = await f.services.drift.check('demo-key');

      // Assess
      expect(report).toMatchObject({ inSync: false, status: 'drift' });
      expect((await f.journal.getState('demo-key')).state.drift).toMatchObject({ detected: true });
      expect(f.keys.regenerations).toHaveLength(0);
    });

    it('does not judge while a rotation holds the lease, nor endpoints without keys or secrets', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      f.addEndpoint({ id: 'token-one', authMode: 'AADToken' });
      f.addEndpoint({ id: 'fresh-one' });
      await f.journal.acquireLease('demo-key', 'someone', 60_000);

      // Act
      const reports = await Promise.all(
        ['demo-key', 'token-one', 'fresh-one'].map((id) => f.services.drift.check(id)),
      );

      // Assess
      expect(reports.map((r) => r.status)).toEqual(['rotationInProgress', 'notKeyAuth', 'noSecret']);
      expect(reports.every((r) => r.inSync)).toBe(true);
    });

    it('throws for an unknown endpoint', async () => {
      const f = buildRotationFixture();
      await expect(f.services.drift.check('nope-one')).rejects.toThrow(EndpointNotFoundError);
    });

    it("hands its caller's signal to the Key Vault read, and releases the lease when it is given up there", async () => {
      // Prepare: the caller (an Event Grid delivery) runs out of time while Key Vault is read
      const f = buildRotationFixture();
      f.addEndpoint({}, { primaryKey: 'p-1', secondaryKey: 's-1' });
      f.secrets.seed('demo-key-secret', 's-1');
      const giveUp = new AbortController();
      const getCurrent = f.secrets.getCurrent.bind(f.secrets);
      f.secrets.getCurrent = async (name, abortSignal) => {
        await getCurrent(name, abortSignal);
        giveUp.abort(new TimeLimitError(25_000));
        throw abortSignal?.reason;
      };

      // Act
      const checked = f.services.drift.check('demo-key', giveUp.signal);

      // Assess: the read had the signal, ARM was not asked, and a rotation can take the lease at once
      await expect(checked).rejects.toThrow(TimeLimitError);
      expect(f.secrets.signals).toEqual([giveUp.signal]);
      expect(f.keys.listKeysSignals).toHaveLength(0);
      expect(await f.journal.acquireLease('demo-key', 'a-run', 60_000)).toBeDefined();
    });

    it('takes no lease for a caller that has given up already', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({}, { primaryKey: 'p-1', secondaryKey: 's-1' });
      const acquire = jest.spyOn(f.journal, 'acquireLease');

      // Act
      const checked = f.services.drift.check('demo-key', AbortSignal.abort(new TimeLimitError(25_000)));

      // Assess
      await expect(checked).rejects.toThrow(TimeLimitError);
      expect(acquire).not.toHaveBeenCalled();
    });

    it('hands the signal to the endpoint key read too', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({}, { primaryKey: 'p-1', secondaryKey: 's-1' });
      f.secrets.seed('demo-key-secret', 's-1');
      const signal = new AbortController().signal;

      // Act
      await f.services.drift.check('demo-key', signal);

      // Assess
      expect(f.keys.listKeysSignals).toEqual([signal]);
    });
  });
});

describe('Class: DriftDetector (an endpoint a newer version registered)', () => {
  it.each([
    ['kind', { kind: 'managedComputeEndpoint' }],
    ['authMode', { authMode: 'ManagedIdentityToken' }],
  ] as const)(
    'gives no verdict on an endpoint whose %s this version does not know: a temporary refusal, nothing read or written',
    async (field, newer) => {
      // Prepare: during a rolling deployment a newer version registered it; someone wrote its secret
      const f = buildRotationFixture();
      f.addEndpoint(newer as unknown as Partial<ManagedEndpoint>, { primaryKey: 'p-1', secondaryKey: 's-1' });
      f.secrets.seed('demo-key-secret', 'written-by-hand');

      // Act
      const checked = f.services.drift.check('demo-key');

      // Assess: no "notKeyAuth" or "drift" of its own, and no lease or journal write
      await expect(checked).rejects.toThrow(EndpointNotKnownHereError);
      await expect(checked).rejects.toMatchObject({ code: 'ENDPOINT_NOT_KNOWN_HERE', temporary: true });
      await expect(checked).rejects.toThrow(`${field} ${Object.values(newer)[0]}`);
      expect(f.keys.calls).toHaveLength(0);
      const { state, lease } = await f.journal.getState('demo-key');
      expect(state).toEqual({});
      expect(lease).toBeUndefined();
    },
  );
});
