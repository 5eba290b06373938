import { RestError } from '@azure/core-rest-pipeline';

import { errorCodeOf } from '../../shared/networkErrors';

describe('Function: errorCodeOf', () => {
  it('gives the code of an SDK or Node error, and nothing for text that is no code', () => {
    // Prepare: a proxy in front of storage may answer a body whose "code" is any text
    const errors = [
      new RestError('Table batch refused (503 ServerBusy)', { statusCode: 503, code: 'ServerBusy' }),
      new RestError('connect ECONNREFUSED', { code: 'ECONNREFUSED' }),
      new RestError('refused', { statusCode: 400, code: 'sig=abc&se=2026 expired' }),
      new RestError('refused', { statusCode: 400, code: 'X'.repeat(65) }),
      new RestError('no code', { statusCode: 500 }),
      'not an error',
      null,
    ];

    // Act
    const codes = errors.map(errorCodeOf);

    // Assess
    expect(codes).toEqual([
      'ServerBusy',
      'ECONNREFUSED',
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
