import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

import type { RunningEmulators } from './emulators';

/** Options of {@link startEventGridTopic}. */
export interface EventGridTopicOptions {
  /**
   * The topic's access key, accepted in `aeg-sas-key`. Left out, the topic has local auth disabled, as
   * infra/ deploys it (`disableLocalAuth: true`): every key is refused and only bearer tokens publish.
   */
  key?: string;
  /**
   * Checks `Authorization: Bearer` tokens (the Azure stand-ins' `checkToken`): a token the identity
   * stand-in issued for Event Grid is accepted, as Azure accepts the app's managed identity. Left out,
   * every bearer token is refused.
   */
  checkToken?: RunningEmulators['checkToken'];
  /** PEM certificate and key (local/certs.ts); plain HTTP when omitted. */
  certPath?: string;
  keyPath?: string;
  /** @default 0 (random) */
  port?: number;
  /** Webhook URL each accepted batch is forwarded to (the local host's `/api/events?code=...`). */
  forwardTo?: string;
  log?: (line: string) => void;
}

/** One CloudEvent as received (JSON as sent by the publisher). */
export type ReceivedCloudEvent = Record<string, unknown> & { id: string; type: string; source: string };

/** One forwarding attempt to the webhook. */
export interface ForwardResult {
  readonly url: string;
  readonly status: number | 'error';
  readonly eventIds: readonly string[];
}

/** A running stand-in topic. */
export interface RunningEventGridTopic {
  /** Base URL, e.g. `https://127.0.0.1:41234`. */
  readonly url: string;
  /** Topic endpoint to configure as `EVENT_GRID_TOPIC_ENDPOINT` (`<url>/api/events`). */
  readonly endpoint: string;
  /** Every CloudEvent accepted so far, oldest first. */
  received(): ReceivedCloudEvent[];
  /** Every forwarding attempt so far. */
  forwarded(): ForwardResult[];
  /** Sets (or clears) the webhook URL batches are forwarded to. */
  forwardTo(url: string | undefined): void;
  /** While set, every publish is answered with this status and recorded nowhere (a topic outage). */
  failWith(status: number | undefined): void;
  /**
   * While on, publishes are left unanswered; turning it off carries on with each one whose publisher is
   * still connected. A publisher killed meanwhile delivers nothing (the fault matrix kills a host whose
   * publish hangs here, between a rotation's finish and its event).
   */
  stall(on: boolean): void;
  /** Resolves when at least `count` events were received. */
  waitForEvents(count: number, timeoutMs?: number): Promise<ReceivedCloudEvent[]>;
  clear(): void;
  stop(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;
const STALL_CLOSE_GRACE_MS = 50;
/** The audience of the token `EventGridPublisherClient` asks for (scope `https://eventgrid.azure.net/.default`). */
const EVENT_GRID_AUDIENCE = 'https://eventgrid.azure.net';

/**
 * A stand-in Event Grid custom topic for the local stack. It accepts exactly what
 * `EventGridPublisherClient` sends in CloudEvent mode (`POST <endpoint>?api-version=2018-01-01`,
 * `application/cloudevents-batch+json` array) with either credential Azure takes: an Entra bearer token
 * for Event Grid, or the access key in `aeg-sas-key` (compared in constant time) unless local auth is
 * disabled. Anything else is answered 401 in Event Grid's words; accepted events are recorded. When a
 * webhook is set (a subscription), it forwards each batch there, asynchronously, after answering the
 * publisher. `GET /_topic/received` lists the recorded events (the local stack's way to show a KeyRotated
 * event arriving).
 */
export async function startEventGridTopic(options: EventGridTopicOptions): Promise<RunningEventGridTopic> {
  const log = options.log ?? (() => undefined);
  const events: ReceivedCloudEvent[] = [];
  const forwards: ForwardResult[] = [];
  const pending = new Set<Promise<void>>();
  let target = options.forwardTo;
  let outage: number | undefined;
  let stalled: { released: Promise<void>; release: () => void } | undefined;
  const expectedKey = options.key === undefined ? undefined : Buffer.from(options.key);

  /** Why Event Grid would refuse this publish (its 401 message), or undefined when it is authorized. */
  const refusal = (req: IncomingMessage): string | undefined => {
    const authorization = req.headers.authorization ?? '';
    const key = Buffer.from(String(req.headers['aeg-sas-key'] ?? ''));
    if (!authorization && key.length === 0)
      return 'Request must contain one of the following authorization signature: aeg-sas-token, aeg-sas-key.';
    const authorized = /^Bearer\s/i.test(authorization)
      ? options.checkToken?.(req, [EVENT_GRID_AUDIENCE]).ok === true
      : expectedKey !== undefined && key.length === expectedKey.length && timingSafeEqual(key, expectedKey);
    // Event Grid words a wrong key, a key while local auth is disabled and a refused token alike (as other
    // Event Grid emulators record it; Microsoft's docs show no error body).
    return authorized
      ? undefined
      : `The request authorization key is not authorized for ${(req.headers.host ?? '').toUpperCase()}.`;
  };

  const forward = (body: string, ids: string[], url: string): void => {
    const attempt = fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents-batch+json; charset=utf-8',
        'aeg-event-type': 'Notification',
      },
      body,
    })
      .then(async (res) => {
        await res.arrayBuffer();
        forwards.push({ url: redact(url), status: res.status, eventIds: ids });
        log(`forward => ${res.status} events=${ids.length}`);
      })
      .catch((error: unknown) => {
        forwards.push({ url: redact(url), status: 'error', eventIds: ids });
        log(`forward => failed ${error instanceof Error ? error.message : 'unknown'}`);
      })
      .finally(() => pending.delete(attempt));
    pending.add(attempt);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    // Loopback-only inspection for demos: `curl <url>/_topic/received` shows what was published.
    if (req.method === 'GET' && path === '/_topic/received') return reply(res, 200, events);
    if (req.method !== 'POST' || path !== '/api/events')
      return reply(res, 404, { error: { code: 'NotFound' } });
    const refused = refusal(req);
    if (refused) {
      log('publish => refused (401)');
      const error = { code: 'Unauthorized', message: refused };
      return reply(res, 401, { error: { ...error, details: [error] } });
    }
    if (stalled) {
      let gone = false;
      res.once('close', () => void (gone = true));
      await stalled.released;
      // A publisher killed just before the release has its socket's close reach this process a loop
      // turn or two later; without the pause its publish would be recorded as if it had been sent.
      await delay(STALL_CLOSE_GRACE_MS);
      if (gone || req.destroyed) return log('publish => publisher gone while stalled, nothing recorded');
    }
    const body = await readBody(req);
    if (outage !== undefined) {
      log(`publish => answered ${outage} (outage)`);
      return reply(res, outage, { error: { code: 'ServiceUnavailable', message: 'injected outage' } });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return reply(res, 400, { error: { code: 'BadRequest', message: 'body must be JSON' } });
    }
    const batch = Array.isArray(parsed) ? parsed : [parsed];
    if (!batch.every(isCloudEvent)) {
      return reply(res, 400, {
        error: { code: 'BadRequest', message: 'each event needs id, type, source, specversion' },
      });
    }
    events.push(...batch);
    log(`publish => accepted ${batch.map((e) => e.type).join(',')}`);
    reply(res, 200, undefined);
    if (target)
      forward(
        JSON.stringify(batch),
        batch.map((e) => e.id),
        target,
      );
  };

  const listener = (req: IncomingMessage, res: ServerResponse) =>
    void handle(req, res).catch(() => reply(res, 500, { error: { code: 'InternalError' } }));
  const server: Server =
    options.certPath && options.keyPath
      ? createHttpsServer(
          { cert: readFileSync(options.certPath), key: readFileSync(options.keyPath) },
          listener,
        )
      : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `${options.certPath ? 'https' : 'http'}://127.0.0.1:${port}`;

  return {
    url,
    endpoint: `${url}/api/events`,
    received: () => [...events],
    forwarded: () => [...forwards],
    forwardTo: (next) => void (target = next),
    failWith: (status) => void (outage = status),
    stall: (on) => {
      if (on && !stalled) {
        let release = () => undefined as void;
        const released = new Promise<void>((resolve) => (release = resolve));
        stalled = { released, release };
      } else if (!on && stalled) {
        stalled.release();
        stalled = undefined;
      }
    },
    clear: () => void ((events.length = 0), (forwards.length = 0)),
    waitForEvents: async (count, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} events, got ${events.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return [...events];
    },
    stop: async () => {
      stalled?.release();
      await Promise.allSettled([...pending]);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function isCloudEvent(value: unknown): value is ReceivedCloudEvent {
  const e = value as Record<string, unknown> | null;
  return (
    e !== null &&
    typeof e === 'object' &&
    typeof e['id'] === 'string' &&
    typeof e['type'] === 'string' &&
    typeof e['source'] === 'string' &&
    e['specversion'] === '1.0'
  );
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The forward URL carries a function key in `code=`; never keep it in records or logs. */
function redact(url: string): string {
  return url.replace(/([?&]code=)[^&]*/i, '$1[redacted]');
}
