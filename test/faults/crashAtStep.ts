import type { Fault } from '../../local/emulators';
import type { SpawnedFunctionsHost } from '../../local/host/childProcess';
import { SECRET_TAGS } from '../../shared/rotation/SecretStore';
import { rotateNow } from '../support/stackEndpoints';
import { waitFor } from '../support/waitFor';
import type { MatrixStack } from './matrixStack';

/**
 * Where the host is killed: right after the journal records a step, after finish's secret write, or
 * after the journal records the finish but before its KeyRotated event reached the topic (`finished`).
 */
export type KillPoint = 'created' | 'set' | 'tested' | 'secretWritten' | 'finished';

/** What one crash did and how it converged. */
export interface CrashResult {
  readonly killPoint: KillPoint;
  /** The journal's step as the killed process left it. */
  readonly journalAtKill: string;
  /** Successful regenerate calls; more than one when a call whose answer was lost was retried. */
  readonly regenerateCalls: number;
  /** Key values changed by those calls: exactly one for a converged rotation. */
  readonly keyChanges: number;
  readonly newVersions: number;
  readonly convergedMs: number;
  /**
   * `finished` only: the id the finish journaled its KeyRotated event under, and the ids of every
   * KeyRotated the topic received for the rotation (the fresh host's send, under that same id).
   */
  readonly journaledEventId?: string;
  readonly receivedEventIds?: readonly string[];
}

/**
 * Every Key Vault call is slowed by this much while a crash case runs, so that after each journal
 * write the host spends at least this long in its next call (every step starts with a Key Vault read)
 * and the watcher below reliably kills it *at* the step, not somewhere later.
 */
const STEP_GAP_MS = 800;

/**
 * Rotates the crash endpoint and SIGKILLs the host process running it at `point`, watching only from
 * outside: the journal table in Azurite (`state.active.step`) and, for `secretWritten`, the Key Vault
 * stand-in's versions. The host running the rotation is the one whose output names the rotation id.
 * A fresh host is started; the rotation must converge (the timer re-enqueues an unfinished rotation
 * and the next run resumes once the 10 s lease has expired) with exactly one key change.
 */
export async function crashAtStep(
  m: MatrixStack,
  point: KillPoint,
  /** The Key Vault fault of the surrounding case, replaced by the step gap until the kill, then restored. */
  keyVaultFault?: Fault,
): Promise<CrashResult> {
  const { control } = m.stack.emulators;
  const endpoint = m.crash;
  const regenerationsBefore = m.standIns.regenerations(endpoint.name);
  const keyChangesBefore = control.keyChanges(endpoint.coords);
  const versionsBefore = control.secretVersions(endpoint.secretName).length;
  const lastBefore = (await m.journal.state(endpoint.id)).lastRotationId;
  const { topic } = m.stack;
  control.setFault('keyVault', { latencyMs: STEP_GAP_MS }); // a probability would spoil the gap
  // The finish's publish hangs at the topic until the kill, so the host dies between finish and event.
  if (point === 'finished') topic.stall(true);
  let journaledEventId: string | undefined;
  let victim: SpawnedFunctionsHost | undefined;
  let rotationId = '';
  try {
    let askedAt = 0;
    rotationId = await waitFor(
      'the crash endpoint to start a rotation',
      async () => {
        const state = await m.journal.state(endpoint.id);
        if (state.active) return state.active.rotationId;
        if (Date.now() - askedAt > 5_000) {
          askedAt = Date.now();
          await rotateNow(m.stack, endpoint.id, m.live[0]?.url).catch(() => undefined); // leased: ask again
        }
        return undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50, describe: () => hostTails(m) },
    );
    await waitFor(
      `rotation ${rotationId} to reach ${point}`,
      async () => {
        const state = await m.journal.state(endpoint.id);
        if (point === 'finished') {
          journaledEventId = state.unsentEvent?.eventId;
          return state.lastRotationId === rotationId && journaledEventId !== undefined;
        }
        if (state.lastRotationId !== lastBefore || !state.active || state.active.rotationId !== rotationId)
          throw new Error(`rotation ${rotationId} went past ${point} before the kill`);
        if (point !== 'secretWritten') return state.active.step === point;
        const current = control.secretVersions(endpoint.secretName).at(-1);
        return current?.tags[SECRET_TAGS.rotationId] === rotationId;
      },
      { timeoutMs: 60_000, intervalMs: 40 },
    );
    victim = m.live.find((h) => h.output().includes(`rotationId=${rotationId}`));
    if (!victim) throw new Error(`no live host names rotation ${rotationId} in its output`);
    await m.killHost(victim);
  } finally {
    control.setFault('keyVault', keyVaultFault);
    topic.stall(false);
  }
  const keyRotatedIds = () =>
    topic
      .received()
      .filter((e) => e.type.endsWith('.KeyRotated') && JSON.stringify(e['data']).includes(rotationId))
      .map((e) => e.id);
  const killedAt = Date.now();
  const stateAtKill = await m.journal.state(endpoint.id);
  const atKill =
    stateAtKill.active?.step ?? (stateAtKill.lastRotationId === rotationId ? 'finished' : 'none');
  await m.spawnHost();
  let lastState = {};
  await waitFor(
    `rotation ${rotationId} to converge after the kill`,
    async () => {
      const state = await m.journal.state(endpoint.id);
      lastState = state;
      const rotated =
        state.lastRotationId === rotationId && state.lastOutcome === 'succeeded' && !state.active;
      return rotated && (point !== 'finished' || (!state.unsentEvent && keyRotatedIds().length > 0));
    },
    {
      timeoutMs: 120_000,
      intervalMs: 250,
      describe: () => convergenceStory(m, endpoint.id, rotationId, killedAt, lastState),
    },
  );
  return {
    killPoint: point,
    journalAtKill: atKill,
    regenerateCalls: m.standIns.regenerations(endpoint.name) - regenerationsBefore,
    keyChanges: control.keyChanges(endpoint.coords) - keyChangesBefore,
    newVersions: control.secretVersions(endpoint.secretName).length - versionsBefore,
    convergedMs: Date.now() - killedAt,
    ...(point === 'finished' ? { journaledEventId, receivedEventIds: keyRotatedIds() } : {}),
  };
}

/** The last lines every live host printed (for timeout messages). */
export function hostTails(m: MatrixStack): string {
  return m.live.map((h) => `--- ${h.url}\n${h.output().slice(-4000)}`).join('\n');
}

/**
 * Why a rotation did not converge: the journal's state row as last read, and every line any host
 * (killed ones included) printed about the endpoint or the rotation from 5 s before the kill, by time.
 */
function convergenceStory(
  m: MatrixStack,
  endpointId: string,
  rotationId: string,
  killedAt: number,
  state: object,
): string {
  const since = new Date(killedAt - 5_000).toISOString();
  const lines = m.everHosts.flatMap((h) =>
    h
      .output()
      .split('\n')
      .filter((line) => line.includes(endpointId) || line.includes(rotationId))
      .map((line) => ({ at: /\[(\S+Z)\]/.exec(line)?.[1] ?? '', text: `${h.url} ${line}` }))
      .filter((line) => line.at >= since),
  );
  lines.sort((a, b) => a.at.localeCompare(b.at));
  return [`journal state: ${JSON.stringify(state)}`, ...lines.slice(-150).map((l) => l.text)].join('\n');
}
