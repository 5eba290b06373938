import type {
  BrokerClientRecord,
  BrokerClientRegistry,
  ClientPage,
} from '../../../shared/broker/BrokerClient';
import type { ClientColumn } from '../../../shared/broker/clientRows';
import { ClientChangedError, ClientRecordUnreadableError } from '../../../shared/broker/errors';
import { untilAborted } from '../../../shared/clock';
import { ConflictError, DependencyUnavailableError, NotFoundError } from '../../../shared/errors';
import type { PageRequest } from '../../../shared/listPages';
import { Gate } from '../../support/Gate';
import { keyPage } from '../keyPage';

/**
 * Broker clients in a map, each stored with a version like a Table row's ETag; `failing` simulates a
 * storage outage, a closed `answers` gate answers that do not arrive (read, then held, until the read's
 * signal fires, as the SDK's request ends); `reads` counts `get` calls and `signals` holds the signal each
 * was handed; `beforeUpdate` runs inside the next update, before its
 * version check (another admin call landing in between); `serverPageLimit` makes `listPage` answer
 * shorter pages than asked for, as Table storage may. `unreadable` holds rows edited by hand into something
 * the registry cannot read (id and the columns at fault; a record of the same id is then the row as it was
 * before the edit): `get` throws for them, `listPage` names them, `delete` removes them.
 */
export class InMemoryBrokerClientRegistry implements BrokerClientRegistry {
  readonly records = new Map<string, BrokerClientRecord>();
  readonly unreadable = new Map<string, ClientColumn[]>();
  failing = false;
  readonly answers = new Gate();
  reads = 0;
  readonly signals: Array<AbortSignal | undefined> = [];
  beforeUpdate: (() => Promise<void>) | undefined;
  serverPageLimit = Infinity;
  private versions = 0;

  async get(id: string, abortSignal?: AbortSignal): Promise<BrokerClientRecord | undefined> {
    this.reads++;
    this.signals.push(abortSignal);
    this.check();
    const record = this.records.get(id);
    await untilAborted(this.answers.pass(), abortSignal);
    const fields = this.unreadable.get(id);
    if (fields) throw new ClientRecordUnreadableError(id, fields);
    return record;
  }
  async listPage(request: PageRequest): Promise<ClientPage> {
    this.check();
    const rows = [
      ...[...this.records.values()]
        .filter((record) => !this.unreadable.has(record.id))
        .map((record) => ({ id: record.id, record })),
      ...[...this.unreadable].map(([id, fields]) => ({ id, fields })),
    ];
    const { items, after } = keyPage(rows, request, this.serverPageLimit);
    const unreadable = items.flatMap((row) => ('fields' in row ? [{ id: row.id, fields: row.fields }] : []));
    return {
      items: items.flatMap((row) => ('record' in row ? [row.record] : [])),
      ...(unreadable.length > 0 ? { unreadable } : {}),
      ...(after !== undefined ? { after } : {}),
    };
  }
  async create(record: BrokerClientRecord): Promise<void> {
    this.check();
    if (this.records.has(record.id) || this.unreadable.has(record.id))
      throw new ConflictError(`Broker client ${record.id} already exists.`);
    this.store(record);
  }
  async update(record: BrokerClientRecord): Promise<void> {
    this.check();
    const meanwhile = this.beforeUpdate;
    this.beforeUpdate = undefined;
    await meanwhile?.();
    const stored = this.records.get(record.id);
    if (!stored) throw new NotFoundError(`No broker client ${record.id}.`);
    if (record.version !== undefined && record.version !== stored.version)
      throw new ClientChangedError(`Broker client ${record.id} changed meanwhile.`);
    this.store(record);
  }
  async delete(id: string): Promise<void> {
    this.check();
    const deleted = [this.records.delete(id), this.unreadable.delete(id)];
    if (!deleted.includes(true)) throw new NotFoundError(`No broker client ${id}.`);
  }
  private store(record: BrokerClientRecord): void {
    this.records.set(record.id, { ...record, version: String(++this.versions) });
  }
  private check(): void {
    if (this.failing) throw new DependencyUnavailableError('clientRegistry', 'down');
  }
}
