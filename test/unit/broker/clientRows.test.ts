import { type ClientColumn, readClientRow } from '../../../shared/broker/clientRows';
import { ClientRecordUnreadableError } from '../../../shared/broker/errors';

const HASH_A = 'A'.repeat(43);
const HASH_B = 'b'.repeat(42) + 'w';

/** A client row as this app writes it (and as the Tables SDK answers it). */
const written = (): Record<string, unknown> => ({
  partitionKey: 'client',
  rowKey: 'legacy-app',
  etag: 'W/"1"',
  timestamp: '2026-11-01T00:00:00.000Z',
  displayName: 'Legacy app',
  primarySecretHash: HASH_A,
  secondarySecretHash: HASH_B,
  allowedScopes: '["fraud","https://ml.azure.com"]',
  rateLimitPerMinute: 120,
  enabled: true,
  expiresAt: '2030-12-31T00:00:00.000Z',
  keyAccess: false,
  createdAt: '2026-11-01T00:00:00.000Z',
  updatedAt: '2026-11-02T00:00:00.000Z',
});

const faultsOf = (row: Record<string, unknown>): ClientColumn[] | undefined => {
  const read = readClientRow(row);
  return 'unreadable' in read ? read.unreadable : undefined;
};

describe('Function: readClientRow', () => {
  it('reads a row as this app writes it, without its optional columns too', () => {
    // Prepare
    const { rateLimitPerMinute: _r, expiresAt: _e, ...minimal } = written();

    // Act
    const full = readClientRow(written());
    const bare = readClientRow(minimal);

    // Assess
    expect(full).toEqual({
      record: {
        id: 'legacy-app',
        displayName: 'Legacy app',
        primarySecretHash: HASH_A,
        secondarySecretHash: HASH_B,
        allowedScopes: ['fraud', 'https://ml.azure.com'],
        rateLimitPerMinute: 120,
        enabled: true,
        expiresAt: '2030-12-31T00:00:00.000Z',
        keyAccess: false,
        createdAt: '2026-11-01T00:00:00.000Z',
        updatedAt: '2026-11-02T00:00:00.000Z',
        version: 'W/"1"',
      },
    });
    expect('record' in bare && bare.record).not.toHaveProperty('rateLimitPerMinute');
    expect('record' in bare && bare.record).not.toHaveProperty('expiresAt');
  });

  it.each<[string, Record<string, unknown>, ClientColumn[]]>([
    ['allowedScopes that is not JSON', { allowedScopes: 'fraud,churn' }, ['allowedScopes']],
    ['allowedScopes that is a JSON object', { allowedScopes: '{"fraud":true}' }, ['allowedScopes']],
    ['allowedScopes with a number in it', { allowedScopes: '["fraud",7]' }, ['allowedScopes']],
    ['allowedScopes missing', { allowedScopes: undefined }, ['allowedScopes']],
    ['enabled written as text', { enabled: 'true' }, ['enabled']],
    ['keyAccess written as a number', { keyAccess: 1 }, ['keyAccess']],
    ['enabled and keyAccess missing', { enabled: undefined, keyAccess: undefined }, ['enabled', 'keyAccess']],
    ['rateLimitPerMinute written as text', { rateLimitPerMinute: '120' }, ['rateLimitPerMinute']],
    ['rateLimitPerMinute of 0', { rateLimitPerMinute: 0 }, ['rateLimitPerMinute']],
    ['rateLimitPerMinute an Int64 of 0', { rateLimitPerMinute: 0n }, ['rateLimitPerMinute']],
    ['rateLimitPerMinute an Int64 past 2^53', { rateLimitPerMinute: 2n ** 60n }, ['rateLimitPerMinute']],
    ['rateLimitPerMinute NaN (a Double)', { rateLimitPerMinute: NaN }, ['rateLimitPerMinute']],
    [
      'the secret hashes missing',
      { primarySecretHash: undefined, secondarySecretHash: undefined },
      ['primarySecretHash', 'secondarySecretHash'],
    ],
    ['a secret hash that is no HMAC of ours', { primarySecretHash: 'not-a-hash' }, ['primarySecretHash']],
    ['expiresAt that is no date', { expiresAt: 'never' }, ['expiresAt']],
    ['expiresAt written as a number', { expiresAt: 20301231 }, ['expiresAt']],
    // Date.parse reads these, as local time or a rolled-over date: a hand edit whose meaning is a guess
    ['expiresAt in US notation', { expiresAt: '12/31/2030' }, ['expiresAt']],
    ['expiresAt without a time or offset', { expiresAt: '2030-12-31' }, ['expiresAt']],
    ['expiresAt on a day that does not exist', { expiresAt: '2030-02-31T00:00:00Z' }, ['expiresAt']],
    ['updatedAt without an offset', { updatedAt: '2026-11-01T00:00:00' }, ['updatedAt']],
    ['displayName written as a number', { displayName: 42 }, ['displayName']],
    ['createdAt missing', { createdAt: undefined }, ['createdAt']],
  ])('names the column of %s, and reads nothing of the row', (_, edit, fields) => {
    // Prepare
    const row = { ...written(), ...edit };
    for (const [name, value] of Object.entries(edit)) if (value === undefined) delete row[name];

    // Act
    const faults = faultsOf(row);

    // Assess
    expect(faults).toEqual(fields);
  });

  it('reads a rate limit Storage Explorer typed Int64 as its integer, and a DateTime expiry as its ISO time', () => {
    // Prepare: what the Tables SDK answers for those types (a bigint, a Date)
    const row = {
      ...written(),
      rateLimitPerMinute: 120n,
      expiresAt: new Date('2030-12-31T00:00:00Z'),
      createdAt: new Date('2026-11-01T00:00:00Z'),
    };

    // Act
    const read = readClientRow(row);

    // Assess
    expect(read).toMatchObject({
      record: {
        rateLimitPerMinute: 120,
        expiresAt: '2030-12-31T00:00:00.000Z',
        createdAt: '2026-11-01T00:00:00.000Z',
      },
    });
  });

  it('reads an expiry written with an offset as the instant it names', () => {
    // Act
    const read = readClientRow({ ...written(), expiresAt: '2030-12-31T01:00:00+01:00' });

    // Assess
    expect(read).toMatchObject({ record: { expiresAt: '2030-12-31T00:00:00.000Z' } });
  });

  it('keeps columns a newer version wrote as otherColumns rather than call the row unreadable', () => {
    // Prepare
    const row = { ...written(), allowedNetworks: '["10.0.0.0/8"]', 'odata.metadata': 'x' };

    // Act
    const read = readClientRow(row);

    // Assess
    expect(read).toMatchObject({ record: { otherColumns: { allowedNetworks: '["10.0.0.0/8"]' } } });
  });

  it('names the columns in its error with what each must hold, never what the row holds', () => {
    // Prepare: a secret pasted where the scopes go
    const pasted = 'pasted-secret-value-0123456789abcdefghijklmno';
    const faults = faultsOf({ ...written(), allowedScopes: pasted, enabled: pasted })!;

    // Act
    const error = new ClientRecordUnreadableError('legacy-app', faults);

    // Assess
    expect(error).toMatchObject({ status: 409, code: 'CLIENT_RECORD_UNREADABLE', clientId: 'legacy-app' });
    expect(error.message).toBe(
      'Broker client legacy-app is stored in a form this app cannot read: columns allowedScopes (a String ' +
        'holding a JSON array of strings), enabled (a Boolean) are missing or of another form. Correct its row ' +
        '(row key legacy-app) in the broker client table, or DELETE the client and create it again (with new secrets).',
    );
    expect(error.message).not.toContain(pasted);
  });
});
