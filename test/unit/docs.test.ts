import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { readHostJson } from '../../local/host/hostJson';
import { OAUTH_MAX_BODY_BYTES } from '../../shared/broker/oauthProtocol';
import { UPSTREAM_CLASSES, UPSTREAM_FAILURES } from '../../shared/broker/UpstreamToken';
import { loadConfig, SETTINGS } from '../../shared/config';
import { DELIVERY_BUDGET_MS } from '../../shared/events/EventWebhook';
import { MAX_DELIVERY_BYTES } from '../../shared/events/parseDelivery';
import { DEFAULT_MAX_BODY_BYTES } from '../../shared/http';
import { MAX_DEQUEUE_COUNT } from '../../shared/queueMessage';
import { needsOperator } from '../../shared/rotation/operatorHold';
import { ROTATION_STEPS } from '../../shared/rotation/RotationJournal';
import { FUNCTION_TIMEOUT_MS } from '../../shared/rotation/RunBudget';
import {
  emittedTelemetry,
  httpRoutes,
  kqlTelemetryNames,
  readRepoFile,
  repoRoot,
  routeMatches,
} from '../support/codeFacts';

/** The operator's guide names only routes, methods, settings, codes, tables and telemetry the code has. */
const docs = new Map<string, string>([
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f): [string, string] => [`docs/${f}`, readRepoFile(`docs/${f}`)]),
  ['README.md', readRepoFile('README.md')],
  ['infra/README.md', readRepoFile('infra/README.md')],
]);
const all = [...docs.values()].join('\n');
const routes = httpRoutes();

/** Environment names in the docs that are not app settings, with where they belong. */
const NOT_APP_SETTINGS: Record<string, string> = {
  IDENTITY_ENDPOINT: 'client side: points an unmodified Azure SDK at the broker',
  IDENTITY_HEADER: 'client side, as above',
  MSI_ENDPOINT: 'client side: must stay unset',
  MSI_SECRET: 'client side: must stay unset',
  SCORING_URI: "client side: the endpoint's scoring URI (locally demo.scoringUris in .local/stack.json)",
  LOCAL_FUNCTIONS_PORT: 'local stack',
  LOCAL_EMULATOR_PORT: 'local stack',
  LOCAL_VERBOSE: 'local stack',
  LOCAL_FUNCTIONS_EXTRA_ENTRY_POINTS: 'local stack: the benchmarks load their empty function this way',
  BENCH_HTTP_ROUNDS: 'benchmark: rounds of the http suite',
  BENCH_HTTP_CONNECTIONS: 'benchmark: connection counts of the http suite',
  AZURE_ENV_NAME: 'azd environment',
  AZURE_LOCATION: 'azd environment',
  AZURE_BROKER_SECRET_PEPPER: 'azd environment',
  AZURE_ML_WORKSPACE_NAME: 'azd environment',
  AZURE_EVENTS_FUNCTION_KEY: 'azd environment',
};

/** Files the docs name that a run writes (gitignored), with what writes them. */
const NOT_IN_REPO: Record<string, string> = {
  '.local/stack.json': 'npm start: the demo client secret and host keys',
  'local.settings.json': 'the user, from local.settings.sample.json',
  'bench-results/latest.json': 'npm run bench',
  'latest.md': 'npm run bench, beside latest.json',
};

/** Error codes the rotation defines but never journals (refused at the API, or handled inside a step). */
const NOT_JOURNALED: Record<string, string> = {
  ENDPOINT_NOT_FOUND: 'admin API 404',
  ENDPOINT_EXISTS: 'admin API 409 on create',
  ENDPOINT_READ_ONLY: 'admin API 409 for ENDPOINTS_FILE entries',
  ENDPOINT_CHANGED: 'admin API 409 when concurrent writes keep winning',
  KEY_VALUE_REJECTED: 'the set step falls back to regenerating without a value',
};

/** Shell commands with their `\` continuations joined. */
function commands(text: string): string[] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .replace(/<br\/?>/g, ' ')
    .split('\n');
}

/** API paths (after `/api/`, `$APP/`, `$BROKER/` or `{broker}/`), placeholders made concrete, query dropped. */
function apiPaths(line: string): string[] {
  return [...line.matchAll(/(?:\/api\/|\$APP\/|\$BROKER\/|\{broker\}\/)([^\s"'`)?]*)/g)]
    .map((m) =>
      (m[1] ?? '')
        .replace(/^api\//, '') // `{broker}/api/…`: the base and the prefix both matched
        .replace(/<[^>]+>|\{[^}]+\}/g, 'x')
        .replace(/\/$/, ''),
    )
    .filter((p) => p !== '' && p !== '…');
}

describe('Docs: routes', () => {
  it.each([...docs])('%s names only routes that exist', (_, text) => {
    // Act
    const unknown = commands(text)
      .flatMap(apiPaths)
      .filter((path) => !routes.some((r) => routeMatches(r.route, path)));
    // Assess
    expect(unknown).toEqual([]);
  });

  it.each([...docs])('%s uses each route with a method it accepts', (_, text) => {
    // Act
    const wrong = commands(text)
      .filter((line) => /\bcurl\b/.test(line))
      .flatMap((line) => {
        const method = /-X (\w+)/.exec(line)?.[1] ?? (/ (-d|--data\S*) /.test(line) ? 'POST' : 'GET');
        return apiPaths(line)
          .filter((path) => !routes.some((r) => routeMatches(r.route, path) && r.methods.includes(method)))
          .map((path) => `${method} ${path}`);
      });
    // Assess
    expect(wrong).toEqual([]);
  });
});

describe('Docs: names', () => {
  it.each([...docs])('%s names only files the repository has', (doc, text) => {
    // Prepare
    const inRepo = repoFiles();
    // Act
    const named = [...text.matchAll(/`([\w./-]+\.(?:ts|js|md|json|bicep|yaml))`/g)].map((m) => m[1] ?? '');
    const missing = named.filter(
      (path) =>
        !(path in NOT_IN_REPO) &&
        !inRepo.has(join(dirname(doc), path)) &&
        ![...inRepo].some((file) => file === path || file.endsWith(`/${path}`)),
    );
    // Assess
    expect(missing).toEqual([]);
  });

  it('mentions only settings, error codes and environment names that exist', () => {
    // Prepare
    const known = new Set([
      ...Object.values(SETTINGS).map((s) => s.name),
      ...sharedCodes(),
      ...Object.keys(NOT_APP_SETTINGS),
    ]);
    // Act
    const named = [...new Set([...all.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`/g)].map((m) => m[1] ?? ''))];
    // Assess
    expect(named.filter((n) => !known.has(n))).toEqual([]);
    const azd = readRepoFile('infra/main.parameters.json');
    for (const name of Object.keys(NOT_APP_SETTINGS).filter((n) => NOT_APP_SETTINGS[n] === 'azd environment'))
      expect({ name, inParameters: azd.includes(`\${${name}`) }).toEqual({ name, inParameters: true });
  });

  it('names only tables the app creates', () => {
    // Prepare
    const tables = Object.values(
      loadConfig({
        KEY_VAULT_URL: 'https://v.vault.azure.net',
        AzureWebJobsStorage__accountName: 'acct',
        BROKER_SECRET_PEPPER: 'p'.repeat(32),
      }).tables,
    ).map((t) => t.replace(/^amlcb/, ''));
    // Act
    const named = [...all.matchAll(/(?:<prefix>|<TABLE_PREFIX>|amlcb)([A-Z][A-Za-z]+)/g)].map(
      (m) => m[1] ?? '',
    );
    // Assess
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((n) => !tables.includes(n))).toEqual([]);
  });

  it('queries and lists exactly the custom events and metrics shared/ emits', () => {
    // Prepare
    const emitted = emittedTelemetry();
    const operations = docs.get('docs/operations.md') ?? '';
    // Act
    const queried = kqlTelemetryNames(all);
    const unknown = queried
      .filter((q) => !(q.kind === 'event' ? emitted.events : emitted.metrics).has(q.name))
      .map((q) => `${q.kind} ${q.name}`);
    const undocumented = [...emitted.events, ...emitted.metrics].filter(
      (n) => !operations.includes(`\`${n}\``),
    );
    // Assess
    expect(queried.length).toBeGreaterThan(5);
    expect(unknown).toEqual([]);
    expect(undocumented).toEqual([]);
  });

  it('gives a recovery row for every step and every code a rotation can journal', () => {
    // Prepare
    const operations = docs.get('docs/operations.md') ?? '';
    const rotationCodes = [
      ...readRepoFile('shared/rotation/errors.ts').matchAll(/code(?:: string)? = '(\w+)'/g),
    ]
      .map((m) => m[1] ?? '')
      .filter((c) => !(c in NOT_JOURNALED));
    // Act
    const rows = operations.split('\n').filter((l) => l.startsWith('| `'));
    const steps = [...ROTATION_STEPS, 'poison'].filter((s) => !rows.some((r) => r.startsWith(`| \`${s}\``)));
    const codes = [...rotationCodes, 'DependencyFailed', 'DependencyUnavailable'].filter(
      (c) => !operations.includes(`\`${c}\``),
    );
    // Assess
    expect(steps).toEqual([]);
    expect(codes).toEqual([]);
    expect(operations).toContain(`all ${maxDequeueCount()} deliveries`);
  });

  it('lists exactly the failures that wait for a person, which the queue does not retry', () => {
    // Prepare
    const operations = (docs.get('docs/operations.md') ?? '').replace(/\s+/g, ' ');
    const start = operations.indexOf('A failure that only a person can fix (');
    const listed = operations.slice(start, operations.indexOf(') is not retried by the queue', start));
    // Act
    const named = [...listed.matchAll(/`(\w+)`/g)].map((m) => m[1] ?? '');
    // Assess
    expect(start).toBeGreaterThan(0);
    expect(named.sort()).toEqual([...new Set(sharedCodes().filter(needsOperator))].sort());
  });

  it('knows the delivery host.json makes the last one, where the app reports what goes to a poison queue', () => {
    expect(maxDequeueCount()).toBe(MAX_DEQUEUE_COUNT);
  });

  it("knows host.json's functionTimeout, which a rotation run's time budget is cut from", () => {
    expect(readHostJson(join(repoRoot, 'host.json')).functionTimeoutMs).toBe(FUNCTION_TIMEOUT_MS);
  });

  it("states the time a webhook delivery gets, inside Event Grid's 30 s", () => {
    // Prepare
    const events = (docs.get('docs/events.md') ?? '').replace(/\s+/g, ' ');
    const seconds = DELIVERY_BUDGET_MS / 1000;

    // Assess
    expect(seconds).toBeLessThan(30);
    expect(events).toContain(`**A delivery's ${seconds} seconds.**`);
    expect(events).toContain(`the delivery not done within its ${seconds} s`);
    expect(docs.get('README.md')?.replace(/\s+/g, ' ')).toContain(`each answered within ${seconds} s`);
  });

  it('explains every upstream and failure class a broker 503 can name', () => {
    // Prepare
    const operations = docs.get('docs/operations.md') ?? '';
    const section = operations.slice(operations.indexOf('## Broker answers 503'));
    // Act
    const rows = section.split('\n').filter((l) => l.startsWith('| `'));
    const failures = UPSTREAM_FAILURES.filter((f) => !rows.some((r) => r.startsWith(`| \`${f}\``)));
    const upstreams = UPSTREAM_CLASSES.filter((u) => !section.includes(`\`${u}\``));
    // Assess
    expect(failures).toEqual([]);
    expect(upstreams).toEqual([]);
  });
});

describe('Docs: limits', () => {
  it('states the request body caps the code enforces', () => {
    // Prepare
    const security = docs.get('docs/security.md') ?? '';
    const limits = security.slice(security.indexOf('## Limits')).split(/\n- /);
    // Act
    const line =
      limits.map((item) => item.replace(/\s+/g, ' ')).find((item) => item.includes('bodies')) ?? '';
    // Assess
    expect(line).toContain(`Admin request bodies are capped at ${DEFAULT_MAX_BODY_BYTES / 1024} KiB`);
    expect(line).toContain(
      `OAuth token requests (\`POST /api/oauth2/token\`, a form) at ${OAUTH_MAX_BODY_BYTES / 1024} KiB`,
    );
    expect(line).toContain(`Event Grid deliveries at ${MAX_DELIVERY_BYTES / 1024 / 1024} MB`);
  });
});

function sharedCodes(): string[] {
  const files = (dir: string): string[] =>
    readdirSync(join(repoRoot, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  return files('shared').flatMap((f) =>
    // `readonly code = 'X'` on error classes, `code: 'X'` in rule tables (the v1 rules).
    [...readFileSync(join(repoRoot, f), 'utf8').matchAll(/\bcode(?:: string)?(?: =|:) '(\w+)'/g)].map(
      (m) => m[1] ?? '',
    ),
  );
}

function maxDequeueCount(): number {
  return (JSON.parse(readRepoFile('host.json')) as { extensions: { queues: { maxDequeueCount: number } } })
    .extensions.queues.maxDequeueCount;
}

/** Every file of the repository (not dependencies, build output or local state), as repository paths. */
function repoFiles(): Set<string> {
  const skip = new Set(['node_modules', 'dist', '.git', '.local', 'coverage', 'bench-results']);
  const walk = (dir: string): string[] =>
    readdirSync(join(repoRoot, dir), { withFileTypes: true }).flatMap((e) =>
      skip.has(e.name) ? [] : e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
    );
  return new Set(walk('.').map((f) => f.replace(/^\.\//, '')));
}
