import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import { type BicepFile, readBicep } from '../support/bicep';

/**
 * What `bicep build` would reject or warn about, checked without the compiler (none is available here):
 * unresolved symbols, unknown functions, module wiring, unused declarations, duplicate keys, API versions.
 */
const root = resolve(__dirname, '..', '..');
const infra = join(root, 'infra');

/** Bicep's built-in functions (learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions). */
const FUNCTIONS = new Set(
  (
    'any array concat contains empty first last length max min range skip take union intersection items filter ' +
    'map reduce sort toObject flatten indexOf lastIndexOf join base64 base64ToJson base64ToString dataUri ' +
    'dataUriToString endsWith format guid json padLeft replace split startsWith string substring toLower toUpper ' +
    'trim uniqueString uri uriComponent uriComponentToString newGuid utcNow dateTimeAdd dateTimeFromEpoch ' +
    'dateTimeToEpoch int bool deployment environment loadFileAsBase64 loadJsonContent loadYamlContent ' +
    'loadTextContent extensionResourceId managementGroup managementGroupResourceId pickZones providers reference ' +
    'resourceGroup resourceId subscription subscriptionResourceId tenant tenantResourceId coalesce objectKeys ' +
    'shallowMerge tryGet'
  ).split(' '),
);

function bicepFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? bicepFiles(join(dir, e.name)) : e.name.endsWith('.bicep') ? [join(dir, e.name)] : [],
  );
}

const files = new Map<string, BicepFile>(
  bicepFiles(infra).map((path) => [relative(infra, path), readBicep(readFileSync(path, 'utf8'))]),
);
const named = (file: BicepFile, keyword: string): string[] =>
  file.declarations.filter((d) => d.keyword === keyword).map((d) => d.name);

describe('Module: infra/*.bicep (read without a compiler)', () => {
  it('finds main.bicep and every module', () => {
    // Assess
    expect([...files.keys()]).toEqual(
      expect.arrayContaining(['main.bicep', join('modules', 'functionApp.bicep')]),
    );
    expect(files.size).toBeGreaterThanOrEqual(10);
  });

  it.each([...files])('%s: every referenced symbol and function exists, and names are unique', (_, file) => {
    // Prepare
    const symbols = new Set(file.declarations.filter((d) => d.keyword !== 'output').map((d) => d.name));
    // Act
    const unresolved = file.references
      .filter((r) => !symbols.has(r.chain[0] ?? '') && !file.locals.has(r.chain[0] ?? ''))
      .map((r) => `${r.chain.join('.')} (line ${r.line})`);
    const unknownFunctions = file.functionCalls.filter((c) => !FUNCTIONS.has(c.name)).map((c) => c.name);
    const names = file.declarations.map((d) => `${d.keyword === 'output' ? 'output ' : ''}${d.name}`);
    // Assess
    expect(unresolved).toEqual([]);
    expect(unknownFunctions).toEqual([]);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it.each([...files])('%s: every param and var is used (bicep linter no-unused-params/vars)', (_, file) => {
    // Prepare
    const used = new Set(file.references.map((r) => r.chain[0]));
    // Act
    const unused = file.declarations
      .filter((d) => (d.keyword === 'param' || d.keyword === 'var') && !used.has(d.name))
      .map((d) => d.name);
    // Assess
    expect(unused).toEqual([]);
  });

  it.each([...files])('%s: no object literal repeats a key', (_, file) => {
    // Act
    const repeated = file.objects.flatMap((o) =>
      o.keys.filter((k, i) => o.keys.indexOf(k) !== i).map((k) => `${k} (object at line ${o.line})`),
    );
    // Assess
    expect(repeated).toEqual([]);
  });

  it.each([...files])('%s: resource types carry a dated API version', (_, file) => {
    // Act
    const bad = file.declarations
      .filter((d) => d.keyword === 'resource')
      .filter((d) => !/^[A-Za-z]+\.[A-Za-z]+\/[A-Za-z/]+@\d{4}-\d{2}-\d{2}(-preview)?$/.test(d.target ?? ''))
      .map((d) => `${d.name}: ${d.target}`);
    // Assess
    expect(bad).toEqual([]);
  });

  it.each([...files])(
    '%s: modules exist, get exactly declared params, and expose the outputs used',
    (path, file) => {
      for (const module of file.declarations.filter((d) => d.keyword === 'module')) {
        // Prepare
        const target = relative(infra, join(infra, dirname(path), module.target ?? ''));
        const callee = files.get(target);
        // Assess
        expect({ module: module.name, target, exists: callee !== undefined }).toEqual({
          module: module.name,
          target,
          exists: true,
        });
        if (!callee) continue;
        const declared = named(callee, 'param');
        const required = callee.declarations
          .filter((d) => d.keyword === 'param' && !d.optional)
          .map((d) => d.name);
        const outputs = new Set(named(callee, 'output'));
        const usedOutputs = file.references
          .filter((r) => r.chain[0] === module.name && r.chain[1] === 'outputs')
          .map((r) => r.chain[2] ?? '');
        expect({
          module: module.name,
          undeclared: (module.passed ?? []).filter((p) => !declared.includes(p)),
          missing: required.filter((r) => !(module.passed ?? []).includes(r)),
          unknownOutputs: usedOutputs.filter((o) => !outputs.has(o)),
        }).toEqual({ module: module.name, undeclared: [], missing: [], unknownOutputs: [] });
      }
    },
  );

  it('parameter files name only parameters main.bicep declares, and every required one', () => {
    // Prepare
    const main = files.get('main.bicep') as BicepFile;
    const required = main.declarations.filter((d) => d.keyword === 'param' && !d.optional).map((d) => d.name);
    const parameterFiles = readdirSync(infra).filter((f) => f.endsWith('.parameters.json'));
    // Act + Assess
    expect(parameterFiles.length).toBeGreaterThan(0);
    for (const name of parameterFiles) {
      const json = JSON.parse(readFileSync(join(infra, name), 'utf8')) as {
        parameters: Record<string, unknown>;
      };
      const given = Object.keys(json.parameters);
      expect({ name, unknown: given.filter((g) => !named(main, 'param').includes(g)) }).toEqual({
        name,
        unknown: [],
      });
      expect({ name, missing: required.filter((r) => !given.includes(r)) }).toEqual({ name, missing: [] });
    }
    expect(existsSync(join(root, 'azure.yaml'))).toBe(true);
  });
});

describe('Function: readBicep', () => {
  it('sees what the checks above rely on: references, locals, calls, module params, object keys', () => {
    // Prepare: a module call with a typo, a duplicate key, a loop variable and an unknown function.
    const text = [
      'param name string',
      'param tags object = {}',
      "var list = [for (item, i) in range(0, 2): '${name}-${item}']",
      "module app 'modules/app.bicep' = if (!empty(name)) {",
      "  name: 'app'",
      '  params: {',
      '    name: nmae',
      '    settings: {',
      "      A: 'x'",
      "      A: 'y'",
      '    }',
      '  }',
      '}',
      'output url string = app.outputs.url',
      'output x string = notAFunction(list[0])',
    ].join('\n');
    // Act
    const file = readBicep(text);
    // Assess
    expect(file.declarations.map((d) => `${d.keyword} ${d.name} ${d.optional ?? ''}`)).toEqual([
      'param name false',
      'param tags true',
      'var list ',
      'module app ',
      'output url ',
      'output x ',
    ]);
    expect(file.declarations[3]?.passed).toEqual(['name', 'settings']);
    expect([...file.locals].sort()).toEqual(['i', 'item']);
    expect(file.references.map((r) => r.chain.join('.'))).toEqual(
      expect.arrayContaining(['name', 'item', 'nmae', 'app.outputs.url', 'list']),
    );
    expect(file.references.map((r) => r.chain[0])).not.toContain('tags');
    expect(file.functionCalls.map((c) => c.name)).toEqual(['range', 'empty', 'notAFunction']);
    expect(file.objects.map((o) => o.keys)).toContainEqual(['A', 'A']);
  });
});
