import { type LoadRound, summarizeRounds } from '../../bench/load';

const round = (requestsPerSecond: number, p50Ms: number, p99Ms: number, failures = 0): LoadRound => ({
  requestsPerSecond,
  p50Ms,
  p99Ms,
  responses: requestsPerSecond * 5,
  failures,
  statusCodes: { '200': requestsPerSecond * 5 - failures },
  cpuUsPerRequest: p50Ms * 10,
});

describe('Function: summarizeRounds', () => {
  it('reports the median of each figure and the totals of answers and failures', () => {
    // Prepare: one noisy round must not move the result
    const rounds = [round(1000, 10, 40), round(200, 90, 900, 3), round(1100, 11, 42)];

    // Act
    const summary = summarizeRounds(rounds);

    // Assess
    expect(summary).toMatchObject({
      requestsPerSecond: 1000,
      p50Ms: 11,
      p99Ms: 42,
      responses: 11500,
      failures: 3,
    });
    expect(summary.rounds).toHaveLength(3);
  });
});
