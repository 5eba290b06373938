import type { BrokerClientRecord } from '../../shared/broker/BrokerClient';
import { SecretHasher } from '../../shared/broker/SecretHasher';

/**
 * An enabled broker client record allowed `demo-token`, its secrets hashed with `hasher`.
 * @param primarySecret - the primary secret, for tests that present it; a fresh one otherwise
 */
export function clientRecord(
  id: string,
  hasher: SecretHasher,
  primarySecret = SecretHasher.generateSecret(),
): BrokerClientRecord {
  const now = new Date().toISOString();
  return {
    id,
    displayName: id,
    primarySecretHash: hasher.hashForStorage(primarySecret),
    secondarySecretHash: hasher.hashForStorage(SecretHasher.generateSecret()),
    allowedScopes: ['demo-token'],
    enabled: true,
    keyAccess: false,
    createdAt: now,
    updatedAt: now,
  };
}
