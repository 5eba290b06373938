import { silentLogger } from '../../shared/logging';
import { type AppInsightsModule, createTelemetry, noopTelemetry } from '../../shared/telemetry';

/** A stand-in for the Application Insights SDK that records what would be sent. */
function capturingChannel() {
  const sent: Array<{ kind: string; name: string; properties: Record<string, string>; value?: number }> = [];
  const tags: Record<string, string> = {};
  let started = false;
  const module: AppInsightsModule = {
    setup: () => ({ setAutoCollectConsole: () => undefined, start: () => (started = true) }),
    defaultClient: {
      trackEvent: (t) => sent.push({ kind: 'event', ...t }),
      trackMetric: (t) => sent.push({ kind: 'metric', ...t }),
      context: { tags, keys: { cloudRole: 'ai.cloud.role' } },
    },
  };
  return { module, sent, tags, started: () => started };
}

describe('Function: createTelemetry', () => {
  it('is a no-op without a connection string', () => {
    // Act
    const telemetry = createTelemetry(undefined, 'role', silentLogger);

    // Assess
    expect(telemetry).toBe(noopTelemetry);
  });

  it('sends events and metrics with the cloud role name and redacts secret-named properties', () => {
    // Prepare
    const channel = capturingChannel();
    const telemetry = createTelemetry(
      'InstrumentationKey=x',
      'aml-credential-broker',
      silentLogger,
      () => channel.module,
    );

    // Act
    telemetry.trackEvent('RotationSucceeded', {
      endpointId: 'demo',
      keyValue: 'S3CRET-VALUE',
      slot: 'Primary',
    });
    telemetry.trackMetric('RotationDurationMs', 42, { endpointId: 'demo', access_token: 'eyJ.secret' });

    // Assess
    expect(channel.started()).toBe(true);
    expect(channel.tags['ai.cloud.role']).toBe('aml-credential-broker');
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

  it('turns telemetry off, with a warning, when the SDK cannot start', () => {
    // Prepare
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => void warnings.push(message) };

    // Act
    const telemetry = createTelemetry('InstrumentationKey=x', 'role', logger, () => {
      throw new Error('boom');
    });

    // Assess
    expect(telemetry).toBe(noopTelemetry);
    expect(warnings).toEqual(['start => Application Insights unavailable, telemetry off']);
  });
});
