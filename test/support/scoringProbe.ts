/**
 * A client like the ones the product serves: it reads the key from Key Vault, caches it, scores
 * continuously, and on a 401 re-reads Key Vault once (what App Service Key Vault references and most
 * hand-written clients do). Counts accepted and rejected calls until stopped.
 */
export interface ScoringProbe {
  /** Stops scoring and returns the counts. */
  stop(): Promise<{ accepted: number; rejected: number }>;
}

/**
 * Starts the probe loop.
 * @param scoringUri - where to POST
 * @param readKey - reads the current key (from Key Vault)
 */
export function startScoringProbe(scoringUri: string, readKey: () => Promise<string>): ScoringProbe {
  let stopped = false;
  let accepted = 0;
  let rejected = 0;
  const score = (key: string) =>
    fetch(scoringUri, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{}',
    }).then(async (r) => (await r.arrayBuffer(), r.status));
  const loop = (async () => {
    let key = await readKey();
    while (!stopped) {
      let status = await score(key);
      if (status === 401) {
        key = await readKey();
        status = await score(key);
      }
      if (status === 401 || status === 403) rejected += 1;
      else accepted += 1;
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { accepted, rejected };
    },
  };
}
