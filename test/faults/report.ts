import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { CaseReport } from './caseRunner';
import { MATRIX_SETTINGS } from './matrixStack';
import { RECOVERY_MS } from './outageWindow';

const COLUMNS: ReadonlyArray<[string, (r: CaseReport) => string]> = [
  ['case', (r) => r.name],
  ['s', (r) => (r.durationMs / 1000).toFixed(1)],
  ['hosts', (r) => String(r.hosts)],
  ['probe calls', (r) => String(r.probeCalls)],
  ['probe rejected (0)', (r) => String(r.probeRejected)],
  ['broker calls', (r) => String(r.brokerCalls)],
  ['broker 5xx in window', (r) => String(r.broker5xxInWindow)],
  ['broker 5xx outside (0)', (r) => String(r.broker5xxOutsideWindow)],
  ['broker conn. errors', (r) => String(r.brokerConnectionErrors)],
  ['rotations (>0)', (r) => String(r.rotationsCompleted)],
  ['double rotations (0)', (r) => String(r.doubleRotations)],
  ['secrets in logs (0)', (r) => String(r.secretsInLogs)],
  ['notes', (r) => r.notes],
];

/** The report as a Markdown table. */
export function markdownTable(reports: readonly CaseReport[]): string {
  const rows = reports.map((r) => COLUMNS.map(([, cell]) => cell(r).replace(/\|/g, '/')));
  return [
    `| ${COLUMNS.map(([h]) => h).join(' | ')} |`,
    `|${COLUMNS.map(() => '---').join('|')}|`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
}

/**
 * Writes `bench-results/faults.json` and `bench-results/faults.md` under `root` and returns the
 * Markdown (printed by the suite).
 */
export function writeFaultReport(root: string, reports: readonly CaseReport[], totalMs: number): string {
  const dir = join(root, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const settings = Object.entries(MATRIX_SETTINGS)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  writeFileSync(
    join(dir, 'faults.json'),
    `${JSON.stringify({ generatedAt: new Date().toISOString(), totalMs, settings: MATRIX_SETTINGS, cases: reports }, null, 2)}\n`,
  );
  const md = [
    '# Fault matrix (`npm run test:faults`)',
    '',
    `Run ${new Date().toISOString()}, ${(totalMs / 1000).toFixed(0)} s in total. Settings: ${settings}.`,
    '',
    markdownTable(reports),
    '',
    'Probe: reads the key from Key Vault with `SecretClient` (every 2 s and after a 401, once), scores continuously;',
    'a call still refused with 401/403 after the re-read is *rejected*. Broker: OAuth client credentials against the',
    'live hosts in turn. A broker 5xx is *in window* only when it is 503 with Retry-After, an upstream of the token',
    `(managed identity or ARM), or Table storage, was failing (until ${RECOVERY_MS / 1000} s after recovery), and the`,
    'host had no cached token with at least the minimum lifetime left (for storage: it had not issued this client a',
    'token yet, so it had no client record to fall back on). Connection errors come from hosts being SIGKILLed.',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'faults.md'), md);
  return md;
}
