import { randomBytes } from 'node:crypto';

import type { EmulatorControl } from '../../local/emulators';
import type { LocalStack } from '../../local/stack';
import { AzureClients } from '../../shared/azureClients';
import { loadConfig } from '../../shared/config';
import { validateEndpoint } from '../../shared/endpoints/validateEndpoint';
import { forEachLimited } from '../../shared/forEachLimited';
import { createRotationModule, type RotationModule } from '../../shared/rotation/module';
import { MANAGED_BY, SECRET_TAGS } from '../../shared/rotation/SecretStore';
import { noopTelemetry } from '../../shared/telemetry';

/** Where the benchmark's endpoints live: one subscription (one ARM write bucket), ten workspaces. */
export const SCALE_SUBSCRIPTION = '00000000-0000-0000-0000-00000000sca1';
const WORKSPACES = 10;
const PERIOD_HOURS = 720;
const GRACE_HOURS = 25;

/** One seeded endpoint. */
export interface SeededEndpoint {
  readonly id: string;
  readonly name: string;
  readonly secretName: string;
}

/**
 * A rotation module in the benchmark process over the stack's Azurite and stand-ins, with the same
 * table and queue names as the Functions host, used to seed and to read the journal afterwards.
 */
export function benchModule(stack: LocalStack): RotationModule {
  const config = loadConfig({
    AzureWebJobsStorage: stack.storageConnectionString,
    KEY_VAULT_URL: stack.emulatorUrl,
    KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
    ARM_ENDPOINT: stack.emulatorUrl,
    BROKER_SECRET_PEPPER: randomBytes(32).toString('base64url'),
    ROTATION_QUEUE: 'rotation-jobs',
  });
  const root = { config, clients: new AzureClients(config), telemetry: noopTelemetry, clock: systemNow };
  return createRotationModule(root, { events: { publish: async () => undefined }, logSink: () => undefined });
}

const systemNow = { now: () => Date.now() };

/**
 * Seeds `count` Key endpoints in steady state: each exists at the ARM stand-in, is registered in the
 * endpoint registry (Azurite table) and already has its Primary key in Key Vault, published 2 periods
 * ago by the app (its tags), so every endpoint is due and a rotation costs exactly what a scheduled one
 * costs in production: `listKeys` (plan) + `regenerateKeys` (set) = 2 ARM writes. Onboarding (no secret
 * yet) would add one more `listKeys`; it happens once per endpoint's life, so it is left out.
 * Registry rows are written with `put` (not `admin.register`, whose duplicate-secret check lists the
 * whole registry per call and would make seeding quadratic).
 */
export async function seedEndpoints(
  control: EmulatorControl,
  module: RotationModule,
  count: number,
): Promise<SeededEndpoint[]> {
  const rules = { defaultPeriodHours: PERIOD_HOURS, defaultGraceHours: GRACE_HOURS, minGraceHours: 0 };
  const publishedAt = Date.now() - 2 * PERIOD_HOURS * 3_600_000;
  const endpoints = Array.from({ length: count }, (_, i) => ({
    id: `scale-${String(i).padStart(5, '0')}`,
    name: `scale-${String(i).padStart(5, '0')}`,
    secretName: `scale-${String(i).padStart(5, '0')}-key`,
    workspace: `ws-scale-${i % WORKSPACES}`,
  }));
  await forEachLimited(endpoints, 32, async (e) => {
    const arm = { subscriptionId: SCALE_SUBSCRIPTION, resourceGroup: 'rg-scale', workspace: e.workspace };
    const primaryKey = randomBytes(24).toString('base64url');
    control.addOnlineEndpoint({ ...arm, name: e.name, authMode: 'Key', primaryKey });
    const endpoint = validateEndpoint(
      {
        id: e.id,
        arm: { ...arm, name: e.name },
        authMode: 'Key',
        secretName: e.secretName,
        rotationPeriodHours: PERIOD_HOURS,
        gracePeriodHours: GRACE_HOURS,
      },
      rules,
      new Date().toISOString(),
    );
    await module.registry.create(endpoint);
    await module.secrets.setVersion(e.secretName, primaryKey, {
      tags: {
        [SECRET_TAGS.rotationId]: `seed-${e.id}`,
        [SECRET_TAGS.slot]: 'Primary',
        [SECRET_TAGS.rotatedAt]: new Date(publishedAt).toISOString(),
        [SECRET_TAGS.managedBy]: MANAGED_BY,
      },
      // Not expired yet: a scheduled rotation, not an urgent `expired` one.
      expiresOn: new Date(Date.now() + 24 * 3_600_000),
    });
  });
  return endpoints.map(({ id, name, secretName }) => ({ id, name, secretName }));
}
