import { createLogger, isSecretPropertyName } from '../../shared/logging';

describe('Function: isSecretPropertyName', () => {
  it.each([
    'key',
    'primaryKey',
    'keyValue',
    'access_token',
    'clientSecret',
    'x-api-key',
    'pepper',
    'secrets',
    'clientSecrets',
    'tokens',
    'credential',
    'credentials',
    'connectionString',
    'storage_connectionstring',
    'sig',
    'signature',
    'sas',
    'identityHeader',
    'x-identity-header',
  ])('treats %s as secret', (name) => expect(isSecretPropertyName(name)).toBe(true));

  it.each(['endpointId', 'secretName', 'secretVersion', 'tokenType', 'slot', 'monkey', 'design', 'headers'])(
    'lets %s through',
    (name) => expect(isSecretPropertyName(name)).toBe(false),
  );
});

describe('Function: createLogger', () => {
  it('prefixes the component and redacts secret-named properties', () => {
    // Prepare
    const lines: string[] = [];
    const logger = createLogger('KeyRotator', (level, line) => lines.push(`${level} ${line}`));

    // Act
    logger.info('rotate => finished', {
      endpointId: 'demo',
      newKey: 'S3CRET',
      slot: 'Primary',
      note: undefined,
    });

    // Assess
    expect(lines).toEqual([
      'info KeyRotator => rotate => finished endpointId=demo newKey=[redacted] slot=Primary',
    ]);
  });
});
