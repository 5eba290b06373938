import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { ensureLocalCertificate } from '../../local/certs';

/** One Application Insights envelope as the exporter posts it to `/v2.1/track`. */
interface Envelope {
  tags?: Record<string, string>;
  data?: {
    baseType?: string;
    baseData?: {
      name?: string;
      properties?: Record<string, string>;
      metrics?: Array<{ name: string; value: number; count?: number; min?: number; max?: number }>;
    };
  };
}

const SECRET = 'S3CRET-KEY-VALUE-for-telemetry';
/** A broker client secret (32 random bytes, base64url) a caller sent as the client id. */
const CLIENT_SECRET = 'q7Vb0cX2kP9sLmN4tR6wY8zA1dF3gH5jK7lQ9eU2iO0';

/**
 * The real `applicationinsights` 3.x SDK, started by our adapter in a plain Node child process (Jest's
 * module system bypasses the require hooks OpenTelemetry instruments with), against a fake ingestion
 * endpoint over HTTPS with the local certificate: what would reach Azure is checked.
 */
describe('Integration: createTelemetry with the real applicationinsights SDK', () => {
  const envelopes: Envelope[] = [];
  const bodies: string[] = [];
  let server: Server;
  let exitCode: number | null;
  let azurite: RunningAzurite;

  beforeAll(async () => {
    azurite = await startAzurite();
    const cert = await ensureLocalCertificate('.local/certs');
    server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
        bodies.push(text);
        if (req.url?.startsWith('/v2.1/track')) envelopes.push(...(JSON.parse(text) as Envelope[]));
        const vault = req.url?.startsWith('/vault') ?? false;
        res.writeHead(vault ? 404 : 200, { 'content-type': 'application/json' });
        res.end(vault ? '{"error":{"code":"SecretNotFound","message":"not here"}}' : '{"itemsAccepted":1}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // A fresh instrumentation key per run: the exporter's offline retry store is keyed by it, so nothing
    // persisted by an earlier run can be replayed into this one.
    const connectionString = `InstrumentationKey=${randomUUID()};IngestionEndpoint=${base}/;LiveEndpoint=${base}/`;
    const probe = join(__dirname, '..', '..', 'dist', 'test', 'support', 'telemetryProbe.js');
    const child = spawn(
      process.execPath,
      [probe, connectionString, base, SECRET, azurite.connectionString, CLIENT_SECRET],
      { stdio: 'inherit' },
    );
    exitCode = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  }, 120_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await azurite?.stop();
  });

  const find = (type: string, name: string) =>
    envelopes.filter(
      (e) => e.data?.baseType === type && JSON.stringify(e.data.baseData).includes(`"${name}"`),
    );

  it('delivers the custom event with the cloud role name and the secret-named property redacted', () => {
    // Act
    const [event] = find('EventData', 'RotationFailed');
    // Assess
    expect(exitCode).toBe(0);
    expect(event?.tags?.['ai.cloud.role']).toBe('aml-credential-broker');
    expect(event?.data?.baseData?.properties).toEqual({
      endpointId: 'demo',
      step: 'set',
      keyValue: '[redacted]',
    });
  });

  it('delivers the custom metric under its name with its dimensions', () => {
    // Act
    const [metric] = find('MetricData', 'RotationDurationMs');
    // Assess
    expect(metric?.data?.baseData?.properties).toEqual({ endpointId: 'demo' });
  });

  it('delivers one aggregate per metric and dimensions: value is the sum of the recordings, count their number', () => {
    // Act: the queries must read customMetrics' value as a sum (docs/operations.md, infra/workbook.json)
    const metrics = find('MetricData', 'BrokerUpstreamLatencyMs');
    // Assess
    expect(metrics).toHaveLength(1);
    expect(metrics[0]?.data?.baseData?.metrics).toEqual([
      expect.objectContaining({ name: 'BrokerUpstreamLatencyMs', value: 400, count: 2, min: 100, max: 300 }),
    ]);
  });

  it('records the Azure SDK call as a dependency, loaded before telemetry started', () => {
    // Act
    const dependencies = find('RemoteDependencyData', 'SecretClient.getSecret');
    // Assess
    expect(dependencies).toHaveLength(1);
    expect(dependencies[0]?.tags?.['ai.cloud.role']).toBe('aml-credential-broker');
  });

  it('records the client registry read as a dependency without the client id it looked up', () => {
    // Act: a caller that swapped id and secret has the broker look its secret up as an id
    const [read] = find('RemoteDependencyData', 'GET /devstoreaccount1/probeBrokerClients(redacted)');
    // Assess
    expect(read?.data?.baseData).toMatchObject({ resultCode: '404' });
    expect(bodies.join('\n')).not.toContain(CLIENT_SECRET);
  });

  it('never sends the secret value anywhere', () => {
    // Assess
    expect(bodies.length).toBeGreaterThan(0);
    expect(bodies.join('\n')).not.toContain(SECRET);
  });
});
