import fc from 'fast-check';

import { matchesSchedule, NcrontabError, nextOccurrence, parseSchedule } from '../../shared/ncrontab';

const at = (iso: string): Date => new Date(iso);

describe('Module: ncrontab', () => {
  describe('Method: nextOccurrence', () => {
    it.each([
      ['0 */5 * * * *', '2026-01-01T00:01:00Z', '2026-01-01T00:05:00.000Z'],
      ['*/20 * * * * *', '2026-01-01T00:00:20Z', '2026-01-01T00:00:40.000Z'],
      ['0 30 9 * * MON-FRI', '2026-11-21T10:00:00Z', '2026-11-23T09:30:00.000Z'],
      ['0 0 0 1 JAN *', '2026-06-01T00:00:00Z', '2027-01-01T00:00:00.000Z'],
      ['0 0 12 * * 0', '2026-11-23T00:00:00Z', '2026-11-29T12:00:00.000Z'],
      ['0 0 12 * * Sunday', '2026-11-23T00:00:00Z', '2026-11-29T12:00:00.000Z'],
      ['0 0 12 * * 5-1', '2026-11-21T00:00:00Z', '2026-11-23T12:00:00.000Z'],
      ['0 0 0 1 December *', '2026-06-01T00:00:00Z', '2026-12-01T00:00:00.000Z'],
      ['5,10 0 0 29 FEB *', '2026-01-01T00:00:00Z', '2028-02-29T00:00:05.000Z'],
      ['0 15-17/2 * * * *', '2026-01-01T00:16:00Z', '2026-01-01T00:17:00.000Z'],
      ['0 0 0 13 * FRI', '2026-01-01T00:00:00Z', '2026-02-13T00:00:00.000Z'],
      ['00:01:30', '2026-01-01T00:00:00Z', '2026-01-01T00:01:30.000Z'],
    ])('finds the next occurrence of "%s" after %s', (expression, after, expected) => {
      // Act
      const next = nextOccurrence(expression, at(after));
      // Assess
      expect(next.toISOString()).toBe(expected);
    });

    it('is strictly after the given time and matches the expression (property)', () => {
      const field = (max: number, min = 0) =>
        fc.oneof(
          fc.constant('*'),
          fc.integer({ min, max }).map(String),
          fc
            .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
            .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
          fc.integer({ min: 1, max: 15 }).map((n) => `*/${n}`),
          fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 3 }).map((xs) => xs.join(',')),
        );
      const expression = fc
        .tuple(
          field(59),
          field(59),
          field(23),
          fc.constantFrom('*', '1', '1-15', '*/3'),
          field(12, 1),
          field(6),
        )
        .map((parts) => parts.join(' '));
      const after = fc.date({
        min: at('2020-01-01T00:00:00Z'),
        max: at('2035-01-01T00:00:00Z'),
        noInvalidDate: true,
      });
      fc.assert(
        fc.property(expression, after, (expr, when) => {
          const next = nextOccurrence(expr, when);
          expect(next.getTime()).toBeGreaterThan(when.getTime());
          expect(next.getUTCMilliseconds()).toBe(0);
          expect(matchesSchedule(parseSchedule(expr), next)).toBe(true);
        }),
        { numRuns: 300 },
      );
    });

    it('never skips an occurrence: nothing between after and next matches (property)', () => {
      fc.assert(
        fc.property(
          fc.constantFrom('*/7 * * * * *', '0 */2 * * * *', '30 0 * * * *'),
          fc.date({ min: at('2024-01-01T00:00:00Z'), max: at('2030-01-01T00:00:00Z'), noInvalidDate: true }),
          (expr, when) => {
            const schedule = parseSchedule(expr);
            const next = nextOccurrence(schedule, when);
            for (let t = Math.floor(when.getTime() / 1000) * 1000 + 1000; t < next.getTime(); t += 1000) {
              expect(matchesSchedule(schedule, new Date(t))).toBe(false);
            }
          },
        ),
        { numRuns: 50 },
      );
    });
  });

  describe('Method: parseSchedule', () => {
    it.each([
      ['0 */5 * * *', /6 fields/],
      ['61 * * * * *', /second field "61"/],
      ['0 0 25 * * *', /hour field "25"/],
      ['0 0 0 0 * *', /day field "0"/],
      ['0 0 0 * FOO *', /month field "FOO"/],
      ['0 0 0 * * 7', /day-of-week field "7": 7 is outside 0-6/],
      ['0 0 0 * * SUNDAYS', /day-of-week field "SUNDAYS"/],
      ['0 */0 * * * *', /minute field .*bad step/],
    ])('rejects "%s" naming the bad field', (expression, message) => {
      // Act
      const act = () => parseSchedule(expression);
      // Assess
      expect(act).toThrow(NcrontabError);
      expect(act).toThrow(message);
    });
  });
});
