/**
 * Runs `work` over `items` with at most `limit` in flight, in order of start. Each worker takes the next
 * item when its last one is done, so an async iterable (a registry read page by page) is read only as
 * fast as the work goes and holds no more than its current page. The first failure, of `work` or of the
 * iterable, stops further items from being taken; it is rejected with once the work in flight has
 * settled, so nothing still runs when the caller counts or logs what was done.
 */
export async function forEachLimited<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  // One iterator shared by every worker; an async generator queues the workers' calls to next().
  const next: Iterator<T> | AsyncIterator<T> =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined) {
      let taken: IteratorResult<T>;
      try {
        taken = await next.next();
      } catch (error) {
        failure ??= { error };
        return;
      }
      if (taken.done) return;
      try {
        await work(taken.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failure === undefined) return;
  // Lets a generator that is still open (pages left unread) run its finally blocks.
  await next.return?.();
  throw failure.error;
}
