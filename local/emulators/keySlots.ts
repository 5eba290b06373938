import { randomBytes, timingSafeEqual } from 'node:crypto';

/** One key slot: `value` is what listKeys returns; scoring accepts `previous` until `activeAt`. */
export interface KeySlotState {
  value: string;
  previous?: string;
  activeAt: number;
  /** How many times the slot was set to a value it did not hold (a retried regenerate with the same value is not a change). */
  changes?: number;
}

/** Anything with two key slots: online and serverless endpoints, v1 web services. */
export interface KeyedRecord {
  readonly keys: { Primary: KeySlotState; Secondary: KeySlotState };
  modifiedAt: string;
}

/** A fresh random endpoint key (32 URL-safe characters). */
export function newKey(): string {
  return randomBytes(24).toString('base64url');
}

/** The two slots of a new endpoint or service, holding the keys given (fresh random ones otherwise). */
export function newKeySlots(primaryKey?: string, secondaryKey?: string): KeyedRecord['keys'] {
  return {
    Primary: { value: primaryKey ?? newKey(), activeAt: 0 },
    Secondary: { value: secondaryKey ?? newKey(), activeAt: 0 },
  };
}

/** `EndpointAuthKeys`, what listKeys answers (ARM and v1 alike): the value each slot holds now. */
export function authKeys(record: KeyedRecord): { primaryKey: string; secondaryKey: string } {
  return { primaryKey: record.keys.Primary.value, secondaryKey: record.keys.Secondary.value };
}

/** Keys scoring accepts for `record` at `now`: a regenerated slot's previous key until it propagates. */
export function acceptedKeys(record: KeyedRecord, now: number): string[] {
  return [record.keys.Primary, record.keys.Secondary].flatMap((slot) =>
    now >= slot.activeAt ? [slot.value] : slot.previous !== undefined ? [slot.previous] : [],
  );
}

/** Whether scoring accepts `presented` as a key of `record` at `now` (compared in constant time). */
export function keyAccepted(record: KeyedRecord, presented: string, now: number): boolean {
  const given = Buffer.from(presented);
  return acceptedKeys(record, now).some((key) => {
    const held = Buffer.from(key);
    return held.length === given.length && timingSafeEqual(held, given);
  });
}
