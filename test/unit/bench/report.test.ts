import type { BenchResult } from '../../bench/BenchResult';
import { formatNumber, type MachineInfo, renderMarkdown } from '../../bench/report';

const MACHINE: MachineInfo = {
  cpu: 'Test CPU',
  cpuCount: 2,
  memoryGiB: 24,
  node: 'v20.0.0',
  loadAverage: 0.5,
};

describe('Module: bench/report', () => {
  describe('Function: formatNumber', () => {
    it.each([
      [12345.6, '12,346'],
      [456.7, '457'],
      [45.67, '45.7'],
      [4.567, '4.57'],
      [-0.114, '-0.11'],
    ])('formats %d as %s', (value, text) => {
      // Act and assess
      expect(formatNumber(value)).toBe(text);
    });
  });

  describe('Function: renderMarkdown', () => {
    it('writes one row per result with its baseline, ratio, goal and verdict under the machine line', () => {
      // Prepare
      const results: BenchResult[] = [
        {
          name: 'HTTP token vend, 64 connections',
          value: 1800,
          unit: 'req/s',
          baseline: 2000,
          baselineName: 'empty function',
          ratio: 0.9,
          goal: '≥ 0.9× baseline',
          met: true,
        },
        {
          name: 'cold start',
          value: 1200,
          unit: 'ms',
          goal: '< 1000 ms',
          met: false,
          notes: 'runs 1100 | 1300',
        },
        { name: 'bare http', value: 9000, unit: 'req/s', goal: 'reported' },
      ];

      // Act
      const markdown = renderMarkdown(results, MACHINE, 'Quiet machine.', new Date('2026-12-01T20:00:00Z'));

      // Assess
      const lines = markdown.split('\n');
      expect(lines[0]).toBe(
        'Measured 2026-12-01T20:00:00.000Z on 2 × Test CPU, 24 GiB, Node v20.0.0; load average 0.5 at start. Quiet machine.',
      );
      expect(lines[2]).toBe('| Benchmark | Value | Baseline | Ratio | Goal | Met |');
      expect(lines[4]).toBe(
        '| HTTP token vend, 64 connections | 1,800 req/s | 2,000 req/s (empty function) | 0.90× | ≥ 0.9× baseline | yes |',
      );
      expect(lines[5]).toBe('| cold start (runs 1100 \\| 1300) | 1,200 ms | — | — | < 1000 ms | **no** |');
      expect(lines[6]).toBe('| bare http | 9,000 req/s | — | — | reported | — |');
    });
  });
});
