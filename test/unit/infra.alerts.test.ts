import { SETTINGS } from '../../shared/config';
import {
  bindingSettings,
  emittedTelemetry,
  httpRoutes,
  kqlTelemetryNames,
  readRepoFile,
} from '../support/codeFacts';

/** The alert rules and binding settings in infra/ name what the code really emits and reads. */
const monitoring = readRepoFile('infra/modules/monitoring.bicep');
const functionApp = readRepoFile('infra/modules/functionApp.bicep');

/** `name: '...'` and `query: '...'` of each entry of the `alerts` array. */
function alerts(): Array<{ name: string; query: string }> {
  const block = /var alerts = \[([\s\S]*?)\n\]/.exec(monitoring)?.[1] ?? '';
  return [...block.matchAll(/name: '([^']+)'[\s\S]*?query: '([^']+)'/g)].map((m) => ({
    name: m[1] ?? '',
    query: m[2] ?? '',
  }));
}

const namesIn = (query: string, table: string): string[] =>
  [...query.matchAll(new RegExp(`${table} \\| where name == "(\\w+)"`, 'g'))].map((m) => m[1] ?? '');

describe('Module: infra/modules/monitoring.bicep', () => {
  it('has the four alerts the issue asks for, one for events given up, one for audit rows lost and one for the daily cap', () => {
    // Act
    const names = alerts().map((a) => a.name);
    // Assess
    expect(names).toEqual([
      'rotation-failed',
      'drift-detected',
      'broker-5xx-rate',
      'upstream-failures',
      'events-lost',
      'audit-lost',
      'daily-cap-reached',
    ]);
  });

  it('caps the workspace daily ingestion by a main.bicep parameter, and alerts on the workspace when the cap is hit', () => {
    // Prepare: at the cap ingestion stops and every other alert goes blind, so hitting it must not be silent
    const main = readRepoFile('infra/main.bicep');
    const capAlert = /\{\s+name: 'daily-cap-reached'[\s\S]*?\n {2}\}/.exec(monitoring)?.[0] ?? '';
    // Act
    const param = /@minValue\((-?\d+)\)\s+param logsDailyCapGb int = (\d+)/.exec(main)?.slice(1);
    // Assess
    expect(param).toEqual(['-1', '10']);
    expect(main).toMatch(/module monitoring [\s\S]*?dailyCapGb: logsDailyCapGb\n/);
    expect(monitoring).toMatch(/workspaceCapping: \{\s+dailyQuotaGb: dailyCapGb\s+\}/);
    // The query Azure Monitor documents for the cap; _LogOperation lives in the workspace, not in Application Insights.
    expect(alerts().find((a) => a.name === 'daily-cap-reached')?.query).toBe(
      '_LogOperation | where Category =~ "Ingestion" | where Detail contains "OverQuota"',
    );
    expect(capAlert).toContain('onWorkspace: true');
    expect(monitoring.match(/onWorkspace: true/g)).toHaveLength(1);
    expect(monitoring).toContain(
      "scopes: [\n        contains(alert, 'onWorkspace') ? logs.id : insights.id\n      ]",
    );
    expect(readRepoFile('docs/deployment.md')).toContain('`logsDailyCapGb`');
  });

  it('has every alert explained in docs/operations.md', () => {
    // Prepare
    const operations = readRepoFile('docs/operations.md');
    // Act
    const undocumented = alerts()
      .map((a) => a.name)
      .filter((name) => !operations.includes(`\`${name}\``));
    // Assess
    expect(undocumented).toEqual([]);
  });

  it('queries only custom events and metrics that shared/ emits', () => {
    // Prepare
    const emitted = emittedTelemetry();
    const queries = alerts().map((a) => a.query);
    // Act
    const events = queries.flatMap((q) => namesIn(q, 'customEvents'));
    const metrics = queries.flatMap((q) => namesIn(q, 'customMetrics'));
    // Assess
    expect(events.sort()).toEqual(['DriftDetected', 'RotationFailed']);
    expect(events.filter((e) => !emitted.events.has(e))).toEqual([]);
    expect(metrics).toEqual(['BrokerUpstreamLatencyMs', 'EventsPublishLost', 'AuditDecisionsLost']);
    expect(metrics.filter((m) => !emitted.metrics.has(m))).toEqual([]);
  });

  it('measures the broker 5xx rate over exactly the token functions', () => {
    // Prepare
    const query = alerts().find((a) => a.name === 'broker-5xx-rate')?.query ?? '';
    const tokenFunctions = httpRoutes()
      .filter((r) => /(^|\/)token$/.test(r.route))
      .map((r) => r.name);
    // Act
    const named = [...(/name in \(([^)]*)\)/.exec(query)?.[1] ?? '').matchAll(/"(\w+)"/g)].map((m) => m[1]);
    // Assess
    expect(named.sort()).toEqual(tokenFunctions.sort());
    expect(tokenFunctions.length).toBeGreaterThanOrEqual(3);
    expect(query).toContain('toint(resultCode) >= 500');
  });

  it('reads the upstream outcome dimension the broker sets', () => {
    // Prepare
    const query = alerts().find((a) => a.name === 'upstream-failures')?.query ?? '';
    const cache = readRepoFile('shared/broker/TokenCache.ts');
    // Assess
    expect(query).toContain('customDimensions.outcome) != "success"');
    expect(cache).toMatch(/trackLatency\(source, [^,]+, 'success'\)/);
    expect(cache).toMatch(/'BrokerUpstreamLatencyMs', ms, \{\s+upstream:/);
  });

  it('queries requests the host actually records: Host.Results is not filtered above Information', () => {
    // Prepare: the host writes the `requests` table from the Host.Results category, every row at
    // Information, failed invocations included; a 5xx the handler answers is a successful invocation.
    const logLevel = (
      JSON.parse(readRepoFile('host.json')) as { logging: { logLevel: Record<string, string> } }
    ).logging.logLevel;
    const levels = ['Trace', 'Debug', 'Information', 'Warning', 'Error', 'Critical', 'None'];
    // Act: the most specific category prefix wins, as in the host's filter.
    const category = ['Host.Results', 'Host', 'default'].find((c) => c in logLevel) ?? 'default';
    const level = logLevel[category] ?? 'Information';
    const queryingRequests = alerts().filter((a) => a.query.startsWith('requests'));
    // Assess
    expect(queryingRequests.map((a) => a.name)).toEqual(['broker-5xx-rate']);
    expect(levels.indexOf(level)).toBeLessThanOrEqual(levels.indexOf('Information'));
  });
});

describe('File: infra/workbook.json', () => {
  it('is a workbook loaded by workbook.bicep whose queries name what the code emits and registers', () => {
    // Prepare
    const workbook = JSON.parse(readRepoFile('infra/workbook.json')) as {
      version: string;
      items: Array<{ type: number; content: { version?: string; query?: string } }>;
    };
    const emitted = emittedTelemetry();
    const functions = httpRoutes().map((r) => r.name);
    // Act
    const queries = workbook.items.filter((i) => i.type === 3).map((i) => i.content.query ?? '');
    const names = queries.flatMap(kqlTelemetryNames);
    const unknown = names.filter((n) => !(n.kind === 'event' ? emitted.events : emitted.metrics).has(n.name));
    const requestNames = queries.flatMap((q) =>
      [...(/requests \| where name in \(([^)]*)\)/.exec(q)?.[1] ?? '').matchAll(/"(\w+)"/g)].map(
        (m) => m[1] ?? '',
      ),
    );
    // Assess
    expect(workbook.version).toBe('Notebook/1.0');
    expect(queries.length).toBeGreaterThanOrEqual(8);
    expect(names.length).toBeGreaterThanOrEqual(10);
    expect(unknown).toEqual([]);
    expect(requestNames.length).toBeGreaterThan(0);
    expect(requestNames.filter((n) => !functions.includes(n))).toEqual([]);
    expect(readRepoFile('infra/modules/workbook.bicep')).toContain("loadTextContent('../workbook.json')");
  });
});

describe('Queries of the broker metrics BrokerUpstreamLatencyMs, BrokerCacheHitRatio and BrokerTokensDenied', () => {
  it('read each customMetrics row as the aggregate the SDK sends: a sum of valueCount measurements, never one', () => {
    // Prepare: the SDK sends one row per minute and dimensions, value = the sum of that minute's
    // recordings (test/integration/telemetry.appinsights.test.ts), so a percentile of value is a
    // percentile of sums, and counting rows undercounts fetches.
    const workbook = JSON.parse(readRepoFile('infra/workbook.json')) as {
      items: Array<{ content: { query?: string } }>;
    };
    const texts = [
      ...workbook.items.map((i) => i.content.query ?? ''),
      readRepoFile('docs/operations.md'),
      readRepoFile('docs/v1-web-services.md'),
    ];
    // Act: each query that reads the metric, with its continuation lines (`| …`, `by …`)
    const queries = texts.flatMap((text) =>
      [
        ...text.matchAll(
          /customMetrics\s*\|\s*where name == "Broker(?:UpstreamLatencyMs|CacheHitRatio|TokensDenied)"[^\n]*(?:\n\s*(?:\||by )[^\n]*)*/g,
        ),
      ].map((m) => m[0]),
    );
    // Assess
    expect(queries.length).toBeGreaterThanOrEqual(5);
    for (const query of queries) {
      expect(query).not.toMatch(/percentile\(value|avg\(value|countif\(/);
      expect(query).toContain('valueCount');
    }
  });
});

describe('Module: infra/modules/functionApp.bicep bindings', () => {
  it('sets every %SETTING% a trigger binding names, and each is a known setting', () => {
    // Prepare
    const names = Object.values(SETTINGS).map((s) => s.name);
    // Act
    const bindings = bindingSettings();
    // Assess
    expect(bindings.sort()).toEqual(['EVENTS_RETRY_QUEUE', 'ROTATION_QUEUE', 'ROTATION_SCHEDULE']);
    for (const name of bindings) {
      expect(names).toContain(name);
      expect(functionApp).toMatch(new RegExp(`^\\s+${name}: \\w+`, 'm'));
    }
  });
});
