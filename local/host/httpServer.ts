import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { type HostKeys, isAuthorized, presentedKey, toAuthLevel } from './auth';
import type { RpcHttpData, RpcTypedData } from './coreApiTypes';
import { handleEventGridWebhook } from './eventGridWebhook';
import { HOST_API_REASON, invokeFunction } from './invocation';
import { type FunctionRegistry, type RegisteredFunction, triggerKind } from './registry';
import { type CompiledRoute, compileRoute, decodePathSegment } from './routes';

/** Options of {@link createHttpServer}. */
export interface HttpServerOptions {
  readonly registry: FunctionRegistry;
  readonly keys: HostKeys;
  readonly routePrefix: string;
  /** host.json `functionTimeout` (undefined: no limit). */
  readonly functionTimeoutMs?: number;
  readonly log: (line: string) => void;
  /** Runs a non-HTTP function now (`POST /admin/functions/{name}`); resolves once it is started. */
  readonly runNow: (fn: RegisteredFunction, input: string | undefined) => void;
}

interface HttpFunction {
  readonly fn: RegisteredFunction;
  readonly route: CompiledRoute;
  readonly methods: string[];
}

function httpFunctions(registry: FunctionRegistry): HttpFunction[] {
  const list: HttpFunction[] = [];
  for (const fn of registry.functions.values()) {
    if (triggerKind(fn) !== 'httptrigger') continue;
    const route = typeof fn.trigger['route'] === 'string' ? fn.trigger['route'] : fn.metadata.name;
    const methods = Array.isArray(fn.trigger['methods'])
      ? fn.trigger['methods'].map((m) => String(m).toUpperCase())
      : ['GET', 'POST'];
    list.push({ fn, route: compileRoute(route), methods });
  }
  return list.sort((a, b) => b.route.precedence - a.route.precedence);
}

/**
 * The real host's cap on request bodies (`FUNCTIONS_REQUEST_BODY_SIZE_LIMIT`, 100 MB by default): a
 * larger one is answered 413 there, where reading it whole would let one request exhaust memory here.
 */
const MAX_REQUEST_BODY_BYTES = 104_857_600;

/** A request body over {@link MAX_REQUEST_BODY_BYTES}: answered 413. */
class RequestBodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BODY_BYTES) throw new RequestBodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BODY_BYTES) throw new RequestBodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    res.writeHead(status, { ...headers, 'content-length': '0' }).end();
    return;
  }
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    })
    .end(text);
}

function bodyBytes(body: RpcTypedData | null | undefined): Buffer {
  if (!body) return Buffer.alloc(0);
  if (body.bytes) return Buffer.from(body.bytes);
  if (body.string !== undefined) return Buffer.from(body.string);
  if (body.json !== undefined) return Buffer.from(body.json);
  return Buffer.alloc(0);
}

/** The HTTP function a request is for, with the route parameters its path filled in. */
interface RouteMatch {
  readonly fn: RegisteredFunction;
  readonly params: Record<string, string>;
}

/** What every route of the front reads from a request. */
interface FrontRequest {
  readonly req: IncomingMessage;
  readonly url: URL;
  readonly method: string;
  readonly path: string;
  /** The function or master key the request presents, if any. */
  readonly key: string | undefined;
}

/**
 * The host's HTTP front: `/<prefix>/<route>` to HTTP-triggered functions (keys checked per auth level;
 * an unknown route or a method the function does not accept is 404, as in the real host), plus the
 * admin API (`GET /admin/host/status`, `POST /admin/functions/{name}`, master key) and `GET /`.
 * A failing handler yields 500 with an empty body; the error goes to the host log only.
 */
export function createHttpServer(options: HttpServerOptions): Server {
  const { registry, keys, log } = options;
  let table: HttpFunction[] | undefined;
  const prefix = options.routePrefix === '' ? '' : `/${options.routePrefix}`;

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // A Host header that is no host makes `new URL` throw; Kestrel answers such a request 400.
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    } catch {
      return send(res, 400);
    }
    const request: FrontRequest = {
      req,
      url,
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      key: presentedKey(req.headers, url),
    };
    const { method, path } = request;
    if (path === '/' && method === 'GET')
      return send(res, 200, { state: 'Running', functions: registry.summaries() });
    if (path.toLowerCase().startsWith('/admin/')) return serveAdmin(request, res, options);
    if (path.toLowerCase() === '/runtime/webhooks/eventgrid') {
      // The real host checks its `eventgrid_extension` system key; locally the function keys stand in.
      if (!isAuthorized('function', request.key, keys)) return send(res, 401);
      const reply = await handleEventGridWebhook(
        registry,
        { method, url, headers: req.headers, body: await readBody(req) },
        log,
        options.functionTimeoutMs,
      );
      return send(res, reply.status, reply.body, reply.headers);
    }
    if (prefix !== '' && !(path.toLowerCase() === prefix || path.toLowerCase().startsWith(`${prefix}/`)))
      return send(res, 404);
    table ??= httpFunctions(registry);
    const target = findHttpFunction(table, method, path.slice(prefix.length));
    if (!target) return send(res, 404);
    if (!isAuthorized(toAuthLevel(target.fn.trigger['authLevel']), request.key, keys)) return send(res, 401);
    return serveHttpFunction(request, res, target, options);
  };

  return createServer((req, res) => {
    void serve(req, res).catch((error: unknown) => {
      if (error instanceof RequestBodyTooLarge) {
        // The rest of the body is not read: the connection closes once the answer is out.
        if (!res.headersSent) send(res, 413, undefined, { connection: 'close' });
        return;
      }
      log(
        `Local host: unexpected error serving a request: ${error instanceof Error ? error.message : String(error)}`,
      );
      if (!res.headersSent) send(res, 500);
      else res.destroy();
    });
  });
}

/** The admin API (master key): host status, a function's bindings, and running a non-HTTP function now. */
async function serveAdmin(
  request: FrontRequest,
  res: ServerResponse,
  options: HttpServerOptions,
): Promise<void> {
  const { method, path } = request;
  if (!isAuthorized('admin', request.key, options.keys)) return send(res, 401);
  if (path.toLowerCase() === '/admin/host/status' && method === 'GET')
    return send(res, 200, { state: 'Running', version: '4.1000.0-local' });
  const m = /^\/admin\/functions\/([^/]+)$/i.exec(path);
  const fn = m?.[1] !== undefined ? options.registry.functions.get(decodePathSegment(m[1])) : undefined;
  if (!fn) return send(res, 404);
  if (method === 'GET')
    return send(res, 200, { name: fn.metadata.name, config: { bindings: fn.metadata.bindings } });
  if (method !== 'POST') return send(res, 404);
  if (triggerKind(fn) === 'httptrigger') return send(res, 400);
  const text = (await readBody(request.req)).toString('utf8');
  let input: string | undefined;
  try {
    const parsed: unknown = text === '' ? {} : JSON.parse(text);
    const raw =
      typeof parsed === 'object' && parsed !== null
        ? (parsed as Record<string, unknown>)['input']
        : undefined;
    input = typeof raw === 'string' ? raw : undefined;
  } catch {
    return send(res, 400);
  }
  options.runNow(fn, input);
  return send(res, 202);
}

/** The first function, by route precedence, that takes `method` and whose route matches `path`. */
function findHttpFunction(
  table: readonly HttpFunction[],
  method: string,
  path: string,
): RouteMatch | undefined {
  for (const candidate of table) {
    if (!candidate.methods.includes(method)) continue;
    const params = candidate.route.match(path);
    if (params) return { fn: candidate.fn, params };
  }
  return undefined;
}

/** Runs an HTTP-triggered function on the request and writes its response. */
async function serveHttpFunction(
  request: FrontRequest,
  res: ServerResponse,
  target: RouteMatch,
  options: HttpServerOptions,
): Promise<void> {
  const { req, url } = request;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const query: Record<string, string> = {};
  for (const name of new Set(url.searchParams.keys())) query[name] = url.searchParams.getAll(name).join(',');
  const body = await readBody(req);
  const http: RpcHttpData = {
    method: request.method,
    url: url.toString(),
    headers,
    query,
    params: target.params,
    body: body.length > 0 ? { bytes: body } : null,
  };
  let response;
  try {
    response = await invokeFunction(
      options.registry,
      target.fn,
      { data: { http }, reason: HOST_API_REASON },
      options.log,
      options.functionTimeoutMs,
    );
  } catch {
    return send(res, 500);
  }
  const out = response.returnValue?.http;
  if (!out) return send(res, 204);
  const bytes = bodyBytes(out.body);
  res.writeHead(Number(out.statusCode ?? '200'), {
    ...(out.headers ?? {}),
    'content-length': String(bytes.length),
  });
  res.end(bytes);
}
