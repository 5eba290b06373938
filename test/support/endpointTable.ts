import type { TableClient } from '@azure/data-tables';

import { systemClock } from '../../shared/clock';
import type { EndpointRegistry } from '../../shared/endpoints/EndpointRegistry';
import type { ManagedEndpoint } from '../../shared/endpoints/ManagedEndpoint';
import type { EndpointRules } from '../../shared/endpoints/validateEndpoint';
import { eachListed } from '../../shared/listPages';
import { EndpointAdminService } from '../../shared/rotation/EndpointAdminService';
import { FakeClock } from '../fakes/FakeClock';
import { FaultPlan } from '../fakes/rotation/FaultPlan';
import { InMemoryRotationJobQueue } from '../fakes/rotation/InMemoryRotationJobQueue';
import { InMemoryRotationJournal } from '../fakes/rotation/InMemoryRotationJournal';
import { InMemorySecretStore } from '../fakes/rotation/InMemorySecretStore';

/**
 * The admin service over `registry`, its other ports in memory: only the registry matters to register,
 * update, retire and reinstate.
 */
export function adminOver(registry: EndpointRegistry, rules: EndpointRules): EndpointAdminService {
  const [faults, fakeClock] = [new FaultPlan(), new FakeClock()];
  return new EndpointAdminService({
    registry,
    journal: new InMemoryRotationJournal(fakeClock, faults),
    secrets: new InMemorySecretStore(fakeClock, faults),
    jobs: new InMemoryRotationJobQueue(),
    clock: systemClock,
    rules,
  });
}

/** Writes the endpoint's row as versions before secret-name claims did: the row alone, no claim row. */
export async function writeRowWithoutClaim(table: TableClient, endpoint: ManagedEndpoint): Promise<void> {
  await table.createEntity({
    partitionKey: 'endpoint',
    rowKey: endpoint.id,
    endpoint: JSON.stringify(endpoint),
    secretName: endpoint.secretName,
  });
}

/** The ids of every endpoint the registry lists, its pages walked as the timer walks them. */
export async function listedIds(registry: Pick<EndpointRegistry, 'listPage'>): Promise<string[]> {
  const ids: string[] = [];
  for await (const endpoint of eachListed((request) => registry.listPage(request))) ids.push(endpoint.id);
  return ids;
}
