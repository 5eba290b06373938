import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Facts read from the source tree, for tests that keep infra/ and docs/ honest about the code:
 * telemetry names emitted, HTTP routes registered, binding expressions used.
 */
export const repoRoot = resolve(__dirname, '..', '..');

/** Text of a repository file. */
export const readRepoFile = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

function tsSources(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsSources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [readFileSync(join(repoRoot, dir, e.name), 'utf8')]
        : [],
  );
}

/** Custom event and metric names passed as literals to `trackEvent` / `trackMetric` in shared/. */
export function emittedTelemetry(): { events: Set<string>; metrics: Set<string> } {
  const text = tsSources('shared').join('\n');
  const names = (kind: string) =>
    new Set([...text.matchAll(new RegExp(`track${kind}\\(\\s*'([A-Za-z]+)'`, 'g'))].map((m) => m[1] ?? ''));
  return { events: names('Event'), metrics: names('Metric') };
}

/** One `app.http` registration in functions/. */
export interface HttpRoute {
  readonly name: string;
  readonly route: string;
  readonly methods: string[];
  readonly authLevel: string;
}

/** Every HTTP function: name, route (without the `api/` prefix), methods and auth level. */
export function httpRoutes(): HttpRoute[] {
  return tsSources('functions').flatMap((text) =>
    [...text.matchAll(/app\.http\(\s*'(\w+)',\s*\{([\s\S]*?)\}\s*\)/g)].map((m) => {
      const body = m[2] ?? '';
      return {
        name: m[1] ?? '',
        route: /route:\s*'([^']+)'/.exec(body)?.[1] ?? '',
        methods: [...(/methods:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? '').matchAll(/'(\w+)'/g)].map(
          (x) => x[1] ?? '',
        ),
        authLevel: /authLevel:\s*'(\w+)'/.exec(body)?.[1] ?? '',
      };
    }),
  );
}

/** Function names of every registration (`app.http`, `app.timer`, `app.storageQueue`, ...). */
export function functionNames(): string[] {
  return tsSources('functions').flatMap((text) =>
    [...text.matchAll(/app\.\w+\(\s*'(\w+)'/g)].map((m) => m[1] ?? ''),
  );
}

/** App settings named by `%NAME%` binding expressions in functions/. */
export function bindingSettings(): string[] {
  return [
    ...new Set(tsSources('functions').flatMap((t) => [...t.matchAll(/'%(\w+)%'/g)].map((m) => m[1] ?? ''))),
  ];
}

/** Whether a concrete path such as `manage/endpoints/fraud/rotate` matches a route template. */
export function routeMatches(template: string, path: string): boolean {
  const pattern = template
    .split('/')
    .map((part) => (/^\{.+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${pattern}$`, 'i').test(path);
}

/** Custom event / metric names a KQL text filters on (`customEvents | where name == "X"` or `in ("X", "Y")`). */
export function kqlTelemetryNames(text: string): Array<{ kind: 'event' | 'metric'; name: string }> {
  return [...text.matchAll(/custom(Events|Metrics) \| where name (?:==|in) \(?([^)|\n]+)/g)].flatMap((m) =>
    [...(m[2] ?? '').matchAll(/"(\w+)"/g)].map((n) => ({
      kind: m[1] === 'Events' ? ('event' as const) : ('metric' as const),
      name: n[1] ?? '',
    })),
  );
}
