import { fixedTokenBody, isTokenBody, median, medianInterval, ratio } from '../../bench/stats';

describe('Module: bench/stats', () => {
  describe('Function: median', () => {
    it('takes the middle value of an odd count, whatever the order', () => {
      // Act
      const value = median([9, 1, 5]);

      // Assess
      expect(value).toBe(5);
    });

    it('averages the middle two of an even count', () => {
      // Act
      const value = median([4, 1, 3, 2]);

      // Assess
      expect(value).toBe(2.5);
    });

    it('refuses an empty list', () => {
      // Act and assess
      expect(() => median([])).toThrow(RangeError);
    });
  });

  describe('Function: medianInterval', () => {
    it('takes the 2nd and 8th of 9 values, a 96.1 % interval (binomial tails of 10/512 each)', () => {
      // Act
      const interval = medianInterval([9, 1, 8, 2, 7, 3, 6, 4, 5]);

      // Assess
      expect(interval).toEqual({ low: 2, high: 8, confidence: expect.closeTo(1 - 20 / 512, 9) as number });
    });

    it('widens to the extremes when the count is small, and has none below 6 values at 95 %', () => {
      // Act and assess
      expect(medianInterval([3, 1, 2, 6, 5, 4])).toMatchObject({ low: 1, high: 6 });
      expect(medianInterval([1, 2, 3, 4, 5])).toBeUndefined();
      expect(medianInterval([1, 2, 3, 4, 5], 0.9)).toMatchObject({ low: 1, high: 5 });
    });
  });

  describe('Function: ratio', () => {
    it('divides the value by the baseline', () => {
      // Act and assess
      expect(ratio(900, 1000)).toBeCloseTo(0.9);
    });

    it('has no ratio against a zero or non-finite baseline', () => {
      // Act and assess
      expect(ratio(5, 0)).toBeUndefined();
      expect(ratio(5, Number.NaN)).toBeUndefined();
    });
  });

  describe('Function: fixedTokenBody', () => {
    it('builds a token-shaped JSON body of exactly the requested size', () => {
      // Act
      const body = fixedTokenBody(996);

      // Assess
      expect(Buffer.byteLength(body)).toBe(996);
      expect(isTokenBody(body)).toBe(true);
    });

    it('refuses a size too small for the fixed fields', () => {
      // Act and assess
      expect(() => fixedTokenBody(20)).toThrow(RangeError);
    });
  });

  describe('Function: isTokenBody', () => {
    it('accepts a bearer token answer', () => {
      // Act and assess
      expect(isTokenBody('{"access_token":"a.b.c","token_type":"Bearer","expires_in":59}')).toBe(true);
    });

    it.each([
      ['an OAuth error body', '{"error":"slow_down","error_description":"Too many requests."}'],
      ['an empty token', '{"access_token":"","token_type":"Bearer"}'],
      ['another token type', '{"access_token":"x","token_type":"MAC"}'],
      ['text that is not JSON', 'Too Many Requests'],
    ])('rejects %s', (_what, body) => {
      // Act and assess
      expect(isTokenBody(body)).toBe(false);
    });
  });
});
