import type { BrokerClientRecord, BrokerClientRegistry } from '../../../shared/broker/BrokerClient';
import { ConflictError, DependencyUnavailableError, NotFoundError } from '../../../shared/errors';

/** Broker clients in a map; `failing` simulates a storage outage; `reads` counts `get` calls. */
export class InMemoryBrokerClientRegistry implements BrokerClientRegistry {
  readonly records = new Map<string, BrokerClientRecord>();
  failing = false;
  reads = 0;

  async get(id: string): Promise<BrokerClientRecord | undefined> {
    this.reads++;
    this.check();
    return this.records.get(id);
  }
  async list(): Promise<BrokerClientRecord[]> {
    this.check();
    return [...this.records.values()].sort((a, b) => a.id.localeCompare(b.id));
  }
  async create(record: BrokerClientRecord): Promise<void> {
    this.check();
    if (this.records.has(record.id)) throw new ConflictError(`Broker client ${record.id} already exists.`);
    this.records.set(record.id, record);
  }
  async update(record: BrokerClientRecord): Promise<void> {
    this.check();
    if (!this.records.has(record.id)) throw new NotFoundError(`No broker client ${record.id}.`);
    this.records.set(record.id, record);
  }
  async delete(id: string): Promise<void> {
    this.check();
    if (!this.records.delete(id)) throw new NotFoundError(`No broker client ${id}.`);
  }
  private check(): void {
    if (this.failing) throw new DependencyUnavailableError('clientRegistry', 'down');
  }
}
