import { sleep } from '../support/waitFor';

/** One token request as the client saw it. */
export interface BrokerCall {
  /** Epoch ms the answer arrived. */
  readonly at: number;
  readonly host: string;
  /** HTTP status; undefined when the connection failed (host gone). */
  readonly status: number | undefined;
  readonly retryAfter?: string;
  /** Expiry (epoch ms) of the last token this host had issued to us before this call, if any. */
  readonly lastIssuedExpiry?: number;
}

/** Options of {@link startBrokerClient}. */
export interface BrokerClientOptions {
  /** The host processes to spread calls over (read before every call, like a front door). */
  readonly hosts: () => readonly string[];
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: string;
  /** Pause between calls. @default 150 */
  readonly pauseMs?: number;
}

/** A running broker client. */
export interface BrokerClient {
  readonly calls: BrokerCall[];
  /** Every access token received (for secret scans; never print). */
  readonly tokens: Set<string>;
  /** Per host URL: when the last token that host issued to us expires (epoch ms). */
  readonly lastExpiryByHost: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * A legacy client of the token broker: OAuth 2.0 client credentials (HTTP Basic) against the host
 * processes in turn, continuously. Records every answer so the fault matrix can tell 5xx inside the
 * documented outage window from 5xx outside it.
 */
export function startBrokerClient(options: BrokerClientOptions): BrokerClient {
  const calls: BrokerCall[] = [];
  const tokens = new Set<string>();
  const lastExpiryByHost = new Map<string, number>();
  const authorization = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')}`;
  let stopped = false;
  let turn = 0;
  const loop = (async () => {
    while (!stopped) {
      const hosts = options.hosts();
      const host = hosts[turn++ % Math.max(1, hosts.length)];
      if (host !== undefined) calls.push(await tokenCall(host));
      await sleep(options.pauseMs ?? 150);
    }
  })();

  async function tokenCall(host: string): Promise<BrokerCall> {
    const before = lastExpiryByHost.get(host);
    const issued = before !== undefined ? { lastIssuedExpiry: before } : {};
    try {
      const response = await fetch(`${host}/api/oauth2/token`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&scope=${encodeURIComponent(options.scope)}`,
        signal: AbortSignal.timeout(60_000),
      });
      const text = await response.text();
      const at = Date.now();
      if (response.status === 200) {
        const body = JSON.parse(text) as { access_token: string; expires_in: number };
        tokens.add(body.access_token);
        lastExpiryByHost.set(host, at + body.expires_in * 1000);
      }
      const retryAfter = response.headers.get('retry-after');
      return { at, host, status: response.status, ...issued, ...(retryAfter !== null ? { retryAfter } : {}) };
    } catch {
      return { at: Date.now(), host, status: undefined, ...issued };
    }
  }

  return {
    calls,
    tokens,
    lastExpiryByHost,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
