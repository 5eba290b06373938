import type { BenchSuite } from '../../bench/BenchResult';
import { selectSuites } from '../../bench/selectSuites';

const suite = (name: string): BenchSuite => ({ name, description: name, run: async () => [] });
const ALL = [suite('inprocess'), suite('http'), suite('cold')];

describe('Function: selectSuites', () => {
  it('runs every suite when none is named', () => {
    // Act and assess
    expect(selectSuites(ALL, []).map((s) => s.name)).toEqual(['inprocess', 'http', 'cold']);
  });

  it('runs only the named suites, in the order given, ignoring case', () => {
    // Act and assess
    expect(selectSuites(ALL, ['cold', 'HTTP']).map((s) => s.name)).toEqual(['cold', 'http']);
  });

  it('names the known suites when a name is unknown', () => {
    // Act and assess
    expect(() => selectSuites(ALL, ['rotation'])).toThrow('choose from inprocess, http, cold');
  });
});
