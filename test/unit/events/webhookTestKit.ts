import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';

import { eventGridWebhookHandler } from '../../../functions/eventGridWebhook';
import type { EventsModule } from '../../../shared/events/module';
import { buildTestEventsModule } from '../../fakes/events/buildTestEventsModule';

type FixtureFolder = 'azure/eventgrid' | 'events';

const fixtureDir = (folder: FixtureFolder): string => join(__dirname, '..', '..', 'fixtures', folder);

/** Reads a JSON fixture as text. */
export function fixture(folder: FixtureFolder, name: string): string {
  return readFileSync(join(fixtureDir(folder), name), 'utf8');
}

/** The names of every JSON fixture in a folder. */
export function fixtureNames(folder: FixtureFolder): string[] {
  return readdirSync(fixtureDir(folder)).filter((name) => name.endsWith('.json'));
}

/** Sends one request through the real function handler, the way the Functions host would. */
export async function send(
  module: EventsModule,
  init: { method?: string; body?: string; headers?: Record<string, string> },
): Promise<HttpResponseInit & { json: () => Record<string, unknown> }> {
  const request = new HttpRequest({
    method: init.method ?? 'POST',
    url: 'http://localhost:7071/api/events?code=k',
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.body !== undefined ? { body: { string: init.body } } : {}),
  });
  const response = await eventGridWebhookHandler(() => module)(
    request,
    new InvocationContext({ invocationId: 'inv-1' }),
  );
  return {
    ...response,
    json: () =>
      (response.jsonBody as Record<string, unknown> | undefined) ??
      (JSON.parse(typeof response.body === 'string' ? response.body : '{}') as Record<string, unknown>),
  };
}

/** The per-event actions of a 200 reply. */
export function actions(reply: { json: () => Record<string, unknown> }): string[] {
  return (reply.json()['results'] as Array<{ action: string }>).map((r) => r.action);
}

/**
 * The online endpoint the ARM fixtures in test/fixtures/events name, registered under the id and secret
 * auto-registration derives for it.
 */
export const CREDIT_SCORE_REGISTRATION = {
  id: 'ml-ws-credit-score',
  secretName: 'aml-ml-ws-credit-score-key',
  arm: {
    subscriptionId: '00000000-0000-0000-0000-000000000001',
    resourceGroup: 'ml-rg',
    workspace: 'ml-ws',
    name: 'credit-score',
  },
};

/** The test events module with `demo` registered, its secret `demo-key` at version v1 (written by a rotation). */
export function managedDemo(): ReturnType<typeof buildTestEventsModule> {
  const t = buildTestEventsModule();
  t.rotation.addEndpoint({ id: 'demo', secretName: 'demo-key' });
  t.rotation.setCurrent('demo-key', 'v1', { rotationId: 'r-0' });
  return t;
}

/** An Event Grid Key Vault event of `type` about version `version` of `demo-key`. */
export function kvEvent(id: string, type: string, version: string, time = '2026-11-23T01:00:00Z') {
  return {
    id,
    topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
    subject: 'demo-key',
    eventType: type,
    eventTime: time,
    data: { ObjectName: 'demo-key', Version: version, NBF: null, EXP: 1766451600 },
    dataVersion: '1',
  };
}
