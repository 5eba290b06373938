import type { IncomingHttpHeaders } from 'node:http';

import { invokeFunction } from './invocation';
import { type FunctionRegistry, triggerKind } from './registry';

/** A reply of the Event Grid extension endpoint. */
export interface WebhookReply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

const VALIDATION = 'microsoft.eventgrid.subscriptionvalidationevent';

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * `/runtime/webhooks/EventGrid?functionName=<name>` as the Functions host's Event Grid extension serves
 * it: answers the Event Grid validation handshake and the CloudEvents OPTIONS abuse-protection
 * handshake itself, then runs the `eventGridTrigger` function once per event (200 when all succeeded,
 * 500 otherwise so Event Grid retries the delivery).
 */
export async function handleEventGridWebhook(
  registry: FunctionRegistry,
  request: { method: string; url: URL; headers: IncomingHttpHeaders; body: Buffer },
  log: (line: string) => void,
  functionTimeoutMs?: number,
): Promise<WebhookReply> {
  if (request.method === 'OPTIONS') {
    const origin = header(request.headers, 'webhook-request-origin');
    return origin
      ? { status: 200, headers: { 'WebHook-Allowed-Origin': origin, 'WebHook-Allowed-Rate': '*' } }
      : { status: 400 };
  }
  if (request.method !== 'POST') return { status: 404 };
  const name = request.url.searchParams.get('functionName') ?? '';
  const fn = [...registry.functions.values()].find(
    (f) => f.metadata.name.toLowerCase() === name.toLowerCase() && triggerKind(f) === 'eventgridtrigger',
  );
  if (!fn) return { status: 404, body: { error: `No Event Grid-triggered function named '${name}'.` } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body.toString('utf8'));
  } catch {
    return { status: 400, body: { error: 'The request body is not JSON.' } };
  }
  const events = (Array.isArray(parsed) ? parsed : [parsed]).filter(
    (e): e is Record<string, unknown> => typeof e === 'object' && e !== null,
  );
  if (events.length === 0) return { status: 400, body: { error: 'No events in the request body.' } };
  const validation = events.find(
    (e) => typeof e['eventType'] === 'string' && e['eventType'].toLowerCase() === VALIDATION,
  );
  if (validation) {
    const data = validation['data'] as Record<string, unknown> | undefined;
    return { status: 200, body: { validationResponse: data?.['validationCode'] } };
  }
  for (const event of events) {
    try {
      await invokeFunction(
        registry,
        fn,
        { data: { json: JSON.stringify(event) }, reason: 'EventGrid trigger fired' },
        log,
        functionTimeoutMs,
      );
    } catch {
      return { status: 500 };
    }
  }
  return { status: 200 };
}
