import { retryWhileStale } from '../optimisticChange';
import { EndpointChangedError } from './errors';
import {
  manualRotationCleared,
  manualRotationNoted,
  type QueuedManualRotation,
  type RotationJournal,
  type RotationState,
} from './RotationJournal';

/**
 * One attempt at a read-modify-write of the state row without the lease: `edit` returns the row to write
 * (undefined: leave it), which lands only if nobody wrote the row in between; false when someone did.
 */
export type StateEditOnce = (
  endpointId: string,
  edit: (state: RotationState) => RotationState | undefined,
) => Promise<boolean>;

/**
 * The journal's lease-free edits, built on a journal's one-attempt edit (the Table adapter's conditional
 * write, or an in-memory fake's), so every journal applies them alike: the timer's mark is tried once (a
 * tick that loses the race leaves it), an operator's note is read and edited again while another write
 * came first.
 */
export function leaseFreeStateEdits(
  editOnce: StateEditOnce,
): Pick<RotationJournal, 'markEnqueued' | 'markManualRotation' | 'clearManualRotation'> {
  const editState = (endpointId: string, edit: (state: RotationState) => RotationState | undefined) =>
    retryWhileStale(
      (error) => error instanceof EndpointChangedError,
      async () => {
        if (!(await editOnce(endpointId, edit))) throw new EndpointChangedError(endpointId);
      },
    );
  return {
    markEnqueued: (endpointId, at) => editOnce(endpointId, (state) => ({ ...state, enqueuedAt: at })),
    async markManualRotation(endpointId: string, request: QueuedManualRotation, waits) {
      let queued: string | undefined;
      await editState(endpointId, (state) => {
        const { next, waiting } = manualRotationNoted(state, request, waits);
        queued = waiting;
        return next;
      });
      return queued;
    },
    clearManualRotation: (endpointId, requestId) =>
      editState(endpointId, (state) => manualRotationCleared(state, requestId)),
  };
}
