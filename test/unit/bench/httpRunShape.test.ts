import { DEFAULT_HTTP_RUN, httpRunShape } from '../../bench/httpRunShape';

describe('Module: bench/httpRunShape', () => {
  it('uses 9 rounds at 64 and 256 connections when nothing is set', () => {
    // Act
    const shape = httpRunShape({});

    // Assess
    expect(shape).toEqual({ rounds: 9, connections: [64, 256] });
    expect(httpRunShape({ BENCH_HTTP_ROUNDS: '', BENCH_HTTP_CONNECTIONS: '' })).toEqual(DEFAULT_HTTP_RUN);
  });

  it('reads a longer run at the goal connection count only', () => {
    // Act
    const shape = httpRunShape({ BENCH_HTTP_ROUNDS: '40', BENCH_HTTP_CONNECTIONS: '64' });

    // Assess
    expect(shape).toEqual({ rounds: 40, connections: [64] });
  });

  it('reads several connection counts, spaces allowed', () => {
    // Act
    const shape = httpRunShape({ BENCH_HTTP_CONNECTIONS: '16, 64,256' });

    // Assess
    expect(shape.connections).toEqual([16, 64, 256]);
  });

  it.each([
    ['BENCH_HTTP_ROUNDS', '2'],
    ['BENCH_HTTP_ROUNDS', '9.5'],
    ['BENCH_HTTP_ROUNDS', 'many'],
    ['BENCH_HTTP_CONNECTIONS', '64,'],
    ['BENCH_HTTP_CONNECTIONS', '0'],
    ['BENCH_HTTP_CONNECTIONS', '2000'],
  ])('refuses %s=%s, naming the setting and the value', (setting, value) => {
    // Act
    const read = (): unknown => httpRunShape({ [setting]: value });

    // Assess
    expect(read).toThrow(new RegExp(`^${setting}: ".*" is not an integer from \\d+ to \\d+$`));
  });
});
