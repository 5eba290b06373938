import { HeldLease } from '../../../shared/rotation/HeldLease';
import { FakeClock } from '../../fakes/FakeClock';
import { InMemoryRotationJournal } from '../../fakes/rotation/InMemoryRotationJournal';
import { settle } from '../../support/waitFor';

const TTL = 30_000;

async function held(): Promise<{ clock: FakeClock; journal: InMemoryRotationJournal; lease: HeldLease }> {
  const clock = new FakeClock();
  const journal = new InMemoryRotationJournal(clock);
  const acquired = await journal.acquireLease('ep', 'run-a', TTL);
  if (!acquired) throw new Error('lease not acquired');
  return { clock, journal, lease: new HeldLease(journal, acquired, TTL) };
}

const expiry = async (journal: InMemoryRotationJournal): Promise<number | undefined> =>
  (await journal.getState('ep')).lease?.expiresAt;

describe('Class: HeldLease', () => {
  describe('Method: keptAliveWhile', () => {
    it('renews every third of the lease while the work runs, and not after it returned', async () => {
      // Prepare
      const { clock, journal, lease } = await held();
      let finish = (): void => undefined;
      const work = lease.keptAliveWhile(
        () => new Promise<string>((resolve) => (finish = () => resolve('done'))),
        clock.repeat,
      );

      // Act
      clock.advance(25_000);
      await settle();
      const renewedTo = await expiry(journal);
      finish();
      const result = await work;
      clock.advance(25_000);
      await settle();

      // Assess
      expect(result).toBe('done');
      expect(renewedTo).toBe(clock.now() - 25_000 + TTL);
      expect(await expiry(journal)).toBe(renewedTo);
      await expect(lease.write({ state: {} })).resolves.toBeUndefined();
    });

    it("passes the work's own failure through when the lease is still held", async () => {
      // Prepare
      const { clock, lease } = await held();
      const failure = new Error('regenerate refused');
      let fail = (): void => undefined;
      const work = lease.keptAliveWhile(
        () => new Promise<void>((_resolve, reject) => (fail = () => reject(failure))),
        clock.repeat,
      );

      // Act
      clock.advance(15_000);
      await settle();
      fail();

      // Assess
      await expect(work).rejects.toBe(failure);
    });

    it('keeps trying after a renewal fails for a passing reason', async () => {
      // Prepare
      const { clock, journal, lease } = await held();
      let finish = (): void => undefined;
      const work = lease.keptAliveWhile(
        () => new Promise<void>((resolve) => (finish = resolve)),
        clock.repeat,
      );
      journal.failRenewals = 1;

      // Act
      clock.advance(10_000);
      await settle();
      clock.advance(10_000);
      await settle();
      finish();
      await work;

      // Assess
      expect(journal.failRenewals).toBe(0);
      expect(await expiry(journal)).toBe(clock.now() + TTL);
    });
  });
});
