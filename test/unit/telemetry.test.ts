import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type * as RealSdk from 'applicationinsights';
import type { AzureMonitorOpenTelemetryOptions } from 'applicationinsights';

import { silentLogger } from '../../shared/logging';
import { tableKeyRedactor } from '../../shared/tableKeyRedactor';
import {
  type AppInsightsConfiguration,
  type AppInsightsModule,
  createTelemetry,
  noopTelemetry,
  readHostSampling,
  samplingFromHostJson,
  type TelemetrySdk,
} from '../../shared/telemetry';

type SdkResource = NonNullable<AzureMonitorOpenTelemetryOptions['resource']>;

/** Compile-time proof that the real `applicationinsights` module has the shape the adapter relies on. */
const realSdkFits: typeof RealSdk extends AppInsightsModule ? true : false = true;

/** A stand-in for the Application Insights SDK that records configuration and what would be sent. */
function capturingChannel() {
  const sent: Array<{ kind: string; name: string; properties: Record<string, string>; value?: number }> = [];
  const calls: string[] = [];
  const options: unknown[] = [];
  let started = false;
  const configuration: AppInsightsConfiguration = {
    setAutoCollectConsole: (v) => (calls.push(`console=${v}`), configuration),
    setAutoCollectRequests: (v) => (calls.push(`requests=${v}`), configuration),
    setAutoCollectDependencies: (v) => (calls.push(`dependencies=${v}`), configuration),
    setAutoCollectExceptions: (v) => (calls.push(`exceptions=${v}`), configuration),
    setAzureMonitorOptions: (o) => (options.push(o), configuration),
    start: () => (started = true),
  };
  const appInsights: AppInsightsModule = {
    setup: (connectionString) => (calls.push(`setup=${connectionString}`), configuration),
    defaultClient: {
      trackEvent: (t) => sent.push({ kind: 'event', ...t }),
      trackMetric: (t) => sent.push({ kind: 'metric', ...t }),
      flush: async () => void sent.push({ kind: 'flush', name: '', properties: {} }),
    },
  };
  // The resource only has to carry its attributes through to setAzureMonitorOptions here.
  const sdk: TelemetrySdk = {
    appInsights,
    resource: (attributes) => ({ attributes }) as unknown as SdkResource,
  };
  return { sdk, sent, calls, options, started: () => started };
}

const on = (channel: ReturnType<typeof capturingChannel>, logger = silentLogger) =>
  createTelemetry({
    connectionString: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
    roleName: 'aml-credential-broker',
    sampling: { tracesPerSecond: 20 },
    logger,
    sdk: () => channel.sdk,
  });

describe('Function: createTelemetry', () => {
  it('is a no-op without a connection string, and never loads the SDK', () => {
    // Prepare
    const load = jest.fn(() => capturingChannel().sdk);
    // Act
    const telemetry = createTelemetry({
      connectionString: undefined,
      roleName: 'r',
      sampling: { tracesPerSecond: 20 },
      logger: silentLogger,
      sdk: load,
    });
    // Assess
    expect(telemetry).toBe(noopTelemetry);
    expect(load).not.toHaveBeenCalled();
    expect(realSdkFits).toBe(true);
  });

  it('starts once with dependencies, requests and exceptions on, console off, role name and sampling', () => {
    // Prepare
    const channel = capturingChannel();
    // Act
    on(channel);
    // Assess
    expect(channel.started()).toBe(true);
    expect(channel.calls).toEqual([
      'setup=InstrumentationKey=00000000-0000-0000-0000-000000000000',
      'console=false',
      'requests=true',
      'dependencies=true',
      'exceptions=true',
    ]);
    expect(channel.options).toEqual([
      {
        resource: { attributes: { 'service.name': 'aml-credential-broker' } },
        tracesPerSecond: 20,
        spanProcessors: [tableKeyRedactor],
      },
    ]);
  });

  it('sends events and metrics under their names and redacts secret-named properties', () => {
    // Prepare
    const channel = capturingChannel();
    const telemetry = on(channel);
    // Act
    telemetry.trackEvent('RotationSucceeded', {
      endpointId: 'demo',
      keyValue: 'S3CRET-VALUE',
      slot: 'Primary',
    });
    telemetry.trackMetric('RotationDurationMs', 42, {
      endpointId: 'demo',
      access_token: 'eyJ.secret',
      x: undefined,
    });
    // Assess
    expect(channel.sent).toEqual([
      {
        kind: 'event',
        name: 'RotationSucceeded',
        properties: { endpointId: 'demo', keyValue: '[redacted]', slot: 'Primary' },
      },
      {
        kind: 'metric',
        name: 'RotationDurationMs',
        value: 42,
        properties: { endpointId: 'demo', access_token: '[redacted]' },
      },
    ]);
    expect(JSON.stringify(channel.sent)).not.toMatch(/S3CRET-VALUE|eyJ\.secret/);
  });

  it('never lets a failing SDK call fail the caller', () => {
    // Prepare
    const channel = capturingChannel();
    channel.sdk.appInsights.defaultClient.trackEvent = () => {
      throw new Error('exporter down');
    };
    const telemetry = on(channel);
    // Act + Assess
    expect(() => telemetry.trackEvent('RotationFailed', { endpointId: 'demo' })).not.toThrow();
  });

  it('flushes through the SDK, and a failing flush does not fail the shutdown', async () => {
    // Prepare
    const channel = capturingChannel();
    const telemetry = on(channel);
    await telemetry.flush();
    channel.sdk.appInsights.defaultClient.flush = () => Promise.reject(new Error('exporter down'));
    // Act + Assess
    await expect(telemetry.flush()).resolves.toBeUndefined();
    expect(channel.sent.map((s) => s.kind)).toEqual(['flush']);
  });

  it('turns telemetry off, with a warning, when the SDK cannot start', () => {
    // Prepare
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => void warnings.push(message) };
    const channel = capturingChannel();
    channel.sdk.appInsights.setup = () => {
      throw new Error('boom');
    };
    // Act
    const telemetry = on(channel, logger);
    // Assess
    expect(telemetry).toBe(noopTelemetry);
    expect(warnings).toEqual(['start => Application Insights unavailable, telemetry off']);
  });
});

describe('Function: samplingFromHostJson', () => {
  it('follows host.json: the rate limit of the host, none when disabled, 20/s by default', () => {
    // Act + Assess
    const settings = (s: unknown) => ({ logging: { applicationInsights: { samplingSettings: s } } });
    expect(samplingFromHostJson(settings({ isEnabled: true, maxTelemetryItemsPerSecond: 7 }))).toEqual({
      tracesPerSecond: 7,
    });
    expect(samplingFromHostJson(settings({ isEnabled: false, maxTelemetryItemsPerSecond: 7 }))).toEqual({
      tracesPerSecond: 0,
    });
    expect(samplingFromHostJson(settings({ maxTelemetryItemsPerSecond: 'x' }))).toEqual({
      tracesPerSecond: 20,
    });
    expect(samplingFromHostJson(undefined)).toEqual({ tracesPerSecond: 20 });
  });

  it("reads the repository's host.json, and a host.json one level further up (dist/shared)", () => {
    // Prepare
    const root = mkdtempSync(join(tmpdir(), 'host-json-'));
    const host = {
      logging: { applicationInsights: { samplingSettings: { maxTelemetryItemsPerSecond: 3 } } },
    };
    writeFileSync(join(root, 'host.json'), JSON.stringify(host));
    // Act
    const read = [
      readHostSampling(join(root, 'dist', 'shared')),
      readHostSampling(join(__dirname, '..', '..', 'shared')),
      readHostSampling(join(root, 'no', 'where', 'deep')),
    ];
    rmSync(root, { recursive: true, force: true });
    // Assess
    expect(read).toEqual([{ tracesPerSecond: 3 }, { tracesPerSecond: 20 }, { tracesPerSecond: 20 }]);
  });
});
