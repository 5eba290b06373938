import { forEachLimited } from '../../shared/forEachLimited';
import { settle } from '../support/waitFor';

/** Work that waits until released, recording what started and what is in flight. */
function heldWork() {
  const started: number[] = [];
  const releases: Array<() => void> = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const work = async (item: number): Promise<void> => {
    started.push(item);
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    await new Promise<void>((resolve) => releases.push(resolve));
    inFlight -= 1;
  };
  return { work, started, releases, mostInFlight: () => mostInFlight, inFlight: () => inFlight };
}

describe('Function: forEachLimited', () => {
  it('takes items of an async iterable as workers free up, never more than the limit in flight', async () => {
    // Prepare: 10 items from a source that counts how many it has handed out
    let handedOut = 0;
    const source = (async function* () {
      for (let i = 0; i < 10; i += 1) {
        handedOut += 1;
        yield i;
      }
    })();
    const held = heldWork();

    // Act
    const all = forEachLimited(source, 3, held.work);
    await settle();
    const handedOutFirst = handedOut;
    while (held.started.length < 10 || held.inFlight() > 0) {
      held.releases.shift()?.();
      await settle();
    }
    await all;

    // Assess: the source was read only as far as the work went
    expect(handedOutFirst).toBe(3);
    expect(held.started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(held.mostInFlight()).toBe(3);
  });

  it('stops taking items at the first failure, and rejects with it once the work in flight is done', async () => {
    // Prepare: the source fails after four items, while three of them are still in flight
    const source = (async function* () {
      yield* [1, 2, 3, 4];
      throw new Error('page unreadable');
    })();
    const held = heldWork();
    let rejected = false;

    // Act
    const all = forEachLimited(source, 3, held.work).catch((error: unknown) => {
      rejected = true;
      throw error;
    });
    await settle();
    held.releases.shift()?.();
    await settle();
    const rejectedWhileInFlight = rejected;
    for (const release of held.releases.splice(0)) release();

    // Assess
    await expect(all).rejects.toThrow('page unreadable');
    expect(rejectedWhileInFlight).toBe(false);
    expect(held.started).toEqual([1, 2, 3, 4]);
  });

  it('stops handing out items of an array after work failed, and rejects with that failure', async () => {
    // Prepare
    const done: number[] = [];

    // Act
    const all = forEachLimited([1, 2, 3, 4, 5, 6], 2, async (item) => {
      if (item === 2) throw new Error('item 2 failed');
      await settle();
      done.push(item);
    });

    // Assess: 1 was in flight and finished; nothing was taken after the failure
    await expect(all).rejects.toThrow('item 2 failed');
    expect(done).toEqual([1]);
  });
});
