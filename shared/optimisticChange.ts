/** How often a read-modify-write is re-run before the conflict reaches the caller as a 409. */
export const CHANGE_ATTEMPTS = 5;

/**
 * Runs a read-modify-write again while `isStale` says another write landed between its read and its
 * conditional write (an ETag mismatch), so overlapping admin calls both take effect. After
 * {@link CHANGE_ATTEMPTS} lost races the last conflict is thrown.
 * @example await retryWhileStale((e) => e instanceof ClientChangedError, () => readEditWrite())
 */
export async function retryWhileStale<T>(
  isStale: (error: unknown) => boolean,
  readEditWrite: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readEditWrite();
    } catch (error) {
      if (!isStale(error) || attempt >= CHANGE_ATTEMPTS) throw error;
    }
  }
}
