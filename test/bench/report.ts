import { cpus, loadavg, totalmem } from 'node:os';

import type { BenchResult } from './BenchResult';

/** The machine a run was measured on, as printed with the results. */
export interface MachineInfo {
  readonly cpu: string;
  readonly cpuCount: number;
  readonly memoryGiB: number;
  readonly node: string;
  /** 1-minute load average when the run started (other work on the machine skews the figures). */
  readonly loadAverage: number;
}

/** Describes this machine. */
export function describeMachine(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown cpu',
    cpuCount: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** `2 × AMD EPYC 7763, 24 GiB, Node v20.20.2`. */
export function machineLine(machine: MachineInfo): string {
  return `${machine.cpuCount} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}`;
}

/** A number at a precision that suits its size: `12,345`, `123.4`, `1.23`. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toLocaleString('en-US', { maximumFractionDigits: 0 });
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

const cell = (text: string): string => text.replace(/\|/g, '\\|');

/**
 * The results as a Markdown table (benchmark, value, baseline, ratio, goal, met), headed by the
 * machine and the load note.
 */
export function renderMarkdown(
  results: readonly BenchResult[],
  machine: MachineInfo,
  note: string,
  measuredAt: Date,
): string {
  const rows = results.map((r) => {
    const baseline =
      r.baseline === undefined
        ? '—'
        : `${formatNumber(r.baseline)} ${r.unit}${r.baselineName ? ` (${r.baselineName})` : ''}`;
    const ratio = r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}×`;
    const met = r.met === undefined ? '—' : r.met ? 'yes' : '**no**';
    const name = r.notes ? `${r.name} (${r.notes})` : r.name;
    return `| ${[name, `${formatNumber(r.value)} ${r.unit}`, baseline, ratio, r.goal, met].map(cell).join(' | ')} |`;
  });
  return [
    `Measured ${measuredAt.toISOString()} on ${machineLine(machine)}; load average ${machine.loadAverage} at start. ${note}`.trim(),
    '',
    '| Benchmark | Value | Baseline | Ratio | Goal | Met |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
