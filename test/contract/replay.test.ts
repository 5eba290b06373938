import { headerMismatches, shapeMismatches } from './replay';

describe('Function: shapeMismatches', () => {
  it('reports missing fields, type changes and differing exact values', () => {
    // Prepare
    const recorded = {
      error: { code: 'SecretNotFound', message: 'm' },
      attributes: { created: 1, enabled: true },
      value: [{ id: 'a' }],
    };
    const actual = { error: { code: 'Other', message: 'm' }, attributes: { created: '1' }, value: [] };
    // Act
    const problems = shapeMismatches(recorded, actual, { sameLength: true });
    // Assess
    expect(problems).toEqual([
      'error.code: expected "SecretNotFound", got "Other"',
      'attributes.created: recorded number, got string',
      'attributes.enabled: missing',
      'value: recorded 1 items, got 0',
    ]);
  });

  it('accepts extra fields, optional paths, dictionaries and mapped urls', () => {
    // Prepare
    const recorded = {
      tags: { a: 'b' },
      properties: { traffic: { blue: 100 }, scoringUri: 'https://x/score' },
      sku: {},
    };
    const actual = {
      tags: { a: 'b' },
      properties: { traffic: { green: 100 }, scoringUri: 'https://y/score', extra: 1 },
    };
    // Act
    const problems = shapeMismatches(recorded, actual, {
      dictionaries: new Set(['properties.traffic']),
      optional: new Set(['sku']),
    });
    // Assess
    expect(problems).toEqual([]);
  });
});

describe('Function: headerMismatches', () => {
  it('checks media type, challenge form and LRO headers', () => {
    // Prepare
    const headers = new Headers({ 'content-type': 'text/plain', location: 'https://h/other' });
    // Act
    const problems = headerMismatches(
      {
        'Content-Type': 'application/json',
        Location: 'https://h/x/mfeOperationResults/1',
        'Azure-AsyncOperation': 'https://h/mfeOperationsStatus/1',
      },
      headers,
    );
    // Assess
    expect(problems).toEqual([
      'content-type text/plain',
      'location does not point at mfeOperationResults',
      'azure-asyncoperation missing',
      'azure-asyncoperation does not point at mfeOperationsStatus',
    ]);
  });
});
