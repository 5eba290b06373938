import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';

import { endpointTokenHandler } from '../../../functions/endpointToken';
import { msiTokenHandler } from '../../../functions/msiToken';
import { oauthTokenHandler } from '../../../functions/oauthToken';
import type { BrokerModule } from '../../../shared/broker/module';
import type { HttpHandler } from '../../../shared/http';

/** A plain HTTP server hosting the broker's three token functions under `/api`, like the Functions host. */
export interface ServedBroker {
  readonly url: string;
  /** Every response body sent (for secret scans). */
  readonly bodies: string[];
  close(): Promise<void>;
}

const ROUTES: Array<{ method: string; pattern: RegExp; handler: (m: BrokerModule) => HttpHandler }> = [
  { method: 'POST', pattern: /^\/api\/oauth2\/token$/, handler: (m) => oauthTokenHandler(() => m) },
  { method: 'GET', pattern: /^\/api\/msi\/token$/, handler: (m) => msiTokenHandler(() => m) },
  {
    method: 'POST',
    pattern: /^\/api\/endpoints\/(?<id>[^/]+)\/token$/,
    handler: (m) => endpointTokenHandler(() => m),
  },
];

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, reply: HttpResponseInit, bodies: string[]): void {
  const body =
    reply.jsonBody !== undefined
      ? JSON.stringify(reply.jsonBody)
      : typeof reply.body === 'string'
        ? reply.body
        : '';
  bodies.push(body);
  res.writeHead(reply.status ?? 200, reply.headers as Record<string, string>);
  res.end(body);
}

/**
 * Serves the function handlers through the library's own `HttpRequest`, as the local host does, so an
 * off-the-shelf client can talk to the real handler code.
 */
export async function serveBroker(module: BrokerModule): Promise<ServedBroker> {
  const bodies: string[] = [];
  const handlers = ROUTES.map((r) => ({ ...r, run: r.handler(module) }));
  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = handlers.find((h) => h.method === req.method && h.pattern.test(path));
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      const body = await readBody(req);
      const request = new HttpRequest({
        method: req.method ?? 'GET',
        url: `http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`,
        headers,
        params: { ...(route.pattern.exec(path)?.groups ?? {}) },
        ...(body.length > 0 ? { body: { bytes: new Uint8Array(body) } } : {}),
      });
      const context = new InvocationContext({
        invocationId: `test-${Date.now()}`,
        logHandler: () => undefined,
      });
      send(res, await route.run(request, context), bodies);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
