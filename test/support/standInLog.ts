/**
 * Collects the stand-ins' request log (`METHOD path -> status (operation)`, names only, never a key)
 * so tests can count calls per endpoint, which the global counters cannot tell apart. Pass `sink` as
 * `startLocalStack`'s `log`.
 */
export class StandInLog {
  readonly lines: string[] = [];
  readonly sink = (line: string): void => void this.lines.push(line);

  /** Successful `regenerateKeys` calls on one endpoint (online or serverless) so far. */
  regenerations(endpointName: string): number {
    const pattern = new RegExp(`/${escape(endpointName)}/regenerateKeys -> 20\\d `, 'i');
    return this.lines.filter((line) => pattern.test(line)).length;
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Which of the labelled secrets occur in `haystack`, by label (so a failing test never prints the
 * value). Values shorter than 16 characters are ignored: every key, token and client secret the app
 * handles is far longer, and short strings would match by chance.
 */
export function leakedSecrets(haystack: string, secrets: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [secret, label] of secrets)
    if (secret.length >= 16 && haystack.includes(secret)) found.push(label);
  return found;
}
