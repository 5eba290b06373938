import { nextOccurrence, parseSchedule, type Schedule } from '../../shared/ncrontab';
import { resolveSettings } from './hostJson';
import { HOST_API_REASON, type InvocationInput } from './invocation';
import { bindingText, type RegisteredFunction } from './registry';

/** Options of {@link startTimers}. */
export interface TimersOptions {
  readonly functions: readonly RegisteredFunction[];
  readonly env: NodeJS.ProcessEnv;
  readonly run: (fn: RegisteredFunction, input: InvocationInput) => Promise<unknown>;
  readonly log: (line: string) => void;
}

/** Running timers. */
export interface Timers {
  /** Runs a timer function now (admin API), with the same timer object shape. */
  runNow(fn: RegisteredFunction): Promise<void>;
  stop(): Promise<void>;
}

const MAX_DELAY = 2 ** 31 - 1;
const NEVER = '0001-01-01T00:00:00.000Z';

/**
 * Drives timer-triggered functions: `%SETTING%` schedules resolved from the environment, next
 * occurrence from NCRONTAB (UTC), one run at a time per function (the next occurrence is computed when
 * a run ends, like the host's singleton timer), `runOnStartup` honoured. Failed runs are not retried.
 * Handlers receive `{ schedule: { adjustForDST }, scheduleStatus: { last, next, lastUpdated }, isPastDue }`
 * (the library camel-cases the host's PascalCase object).
 */
export function startTimers(options: TimersOptions): Timers {
  let stopped = false;
  const handles = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  const state = new Map<string, { schedule: Schedule; last: string; lastUpdated: string }>();

  const fire = async (fn: RegisteredFunction, due: Date | undefined, reason: string): Promise<void> => {
    const s = state.get(fn.metadata.name);
    if (!s) return;
    const now = new Date();
    // As the WebJobs TimerListener: the status recorded by the previous run (whose Next is this
    // occurrence), and isPastDue only for an occurrence missed while the host was down, which a host
    // that keeps no schedule status across restarts never sees; a late timer is not past due.
    const timerInfo = {
      Schedule: { AdjustForDST: s.schedule.kind === 'cron' },
      ScheduleStatus: {
        Last: s.last,
        Next: (due ?? nextOccurrence(s.schedule, now)).toISOString(),
        LastUpdated: s.lastUpdated,
      },
      IsPastDue: false,
    };
    s.last = (due ?? now).toISOString();
    s.lastUpdated = now.toISOString();
    const p = options.run(fn, { data: { json: JSON.stringify(timerInfo) }, reason }).catch(() => undefined);
    running.add(p);
    await p;
    running.delete(p);
  };

  const schedule = (fn: RegisteredFunction): void => {
    const s = state.get(fn.metadata.name);
    if (stopped || !s) return;
    const due = nextOccurrence(s.schedule, new Date());
    const wait = (): void => {
      const delay = due.getTime() - Date.now();
      const handle = setTimeout(
        () => {
          handles.delete(handle);
          if (stopped) return;
          if (delay > MAX_DELAY) return wait();
          void fire(fn, due, `Timer fired at ${new Date().toISOString()}`).then(() => schedule(fn));
        },
        Math.max(0, Math.min(delay, MAX_DELAY)),
      );
      handles.add(handle);
    };
    wait();
  };

  for (const fn of options.functions) {
    const raw = bindingText(fn.trigger['schedule']);
    const expression = resolveSettings(raw, options.env);
    state.set(fn.metadata.name, { schedule: parseSchedule(expression), last: NEVER, lastUpdated: NEVER });
    options.log(
      `Timer '${fn.metadata.name}': schedule "${expression}", next ${nextOccurrence(expression, new Date()).toISOString()}`,
    );
    if (fn.trigger['runOnStartup'] === true)
      void fire(fn, undefined, 'Timer fired on startup (runOnStartup)');
    schedule(fn);
  }

  return {
    runNow: (fn) => fire(fn, undefined, HOST_API_REASON),
    async stop(): Promise<void> {
      stopped = true;
      for (const h of handles) clearTimeout(h);
      handles.clear();
      await Promise.all([...running]);
    },
  };
}
