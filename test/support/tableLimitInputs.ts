import { MAX_PROBE_BODY_STORED } from '../../shared/endpoints/validateProbe';

/**
 * The registration body whose stored JSON is the longest validateEndpoint accepts: every text field at
 * its longest, the probe path of control characters (6 characters each once JSON-escaped), a body of
 * quotes (2 each) taking `bodyStored` characters as stored, 100 statuses and long decimal numbers.
 * @param bodyStored - characters the probe body takes as stored @default MAX_PROBE_BODY_STORED
 */
export function largestEndpointInput(bodyStored = MAX_PROBE_BODY_STORED) {
  return {
    id: 'e'.repeat(63),
    // An online endpoint: its name may take 255 characters, which outweighs a v1 service's block (a v1
    // service name takes at most 32).
    kind: 'onlineEndpoint',
    arm: {
      subscriptionId: 's'.repeat(64),
      resourceGroup: 'r'.repeat(90),
      workspace: 'w'.repeat(33),
      name: 'n'.repeat(255),
    },
    authMode: 'AMLToken',
    secretName: 'k'.repeat(119),
    rotationPeriodHours: 87599.99999999999,
    gracePeriodHours: 24.000000000000004,
    probe: {
      method: 'POST',
      path: `/${'\u0001'.repeat(1999)}`,
      body: '"'.repeat(Math.floor(bodyStored / 2)) + (bodyStored % 2 === 1 ? 'b' : ''),
      acceptedStatuses: Array.from({ length: 100 }, () => 599),
    },
    brokerKeyAccess: false,
    enabled: false,
  };
}

/**
 * 100 distinct https resource scopes whose normalised JSON array (what the client registry stores)
 * takes exactly `chars` characters.
 */
export function scopesStoredAs(chars: number): string[] {
  const scopes = Array.from({ length: 100 }, (_, i) => `https://s${i}.example.com/a`);
  const each = Math.floor((chars - JSON.stringify(scopes).length) / scopes.length);
  const padded = scopes.map((scope) => scope + 'a'.repeat(each));
  padded[padded.length - 1] += 'a'.repeat(chars - JSON.stringify(padded).length);
  return padded;
}
