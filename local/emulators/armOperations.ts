import { randomUUID } from 'node:crypto';

import type { ArmTarget } from './arm';
import { armError, operationStatusBody, operationUrls } from './armShapes';
import { type RequestContext, send } from './httpUtil';
import type { EmulatorState, OperationRecord, WorkspaceRecord } from './state';

/**
 * Starts an operation that completes after `delayMs` (lazily, see EmulatorState.settle); what `complete`
 * returns is the operation's result body.
 */
export function startOperation(
  state: EmulatorState,
  ctx: RequestContext,
  ws: WorkspaceRecord,
  delayMs: number,
  complete: (at: number) => unknown,
): OperationRecord {
  const op: OperationRecord = {
    id: `oe:${ws.workspaceId}:${randomUUID()}`,
    subscriptionId: ws.subscriptionId,
    location: ws.location,
    startedAt: ctx.now,
    completeAt: ctx.now + delayMs,
    done: false,
    complete,
  };
  state.operations.set(op.id.toLowerCase(), op);
  return op;
}

/** Retry-After seconds until `op` completes. */
export function retryAfter(op: OperationRecord, now: number): string {
  return String(Math.max(0, Math.ceil((op.completeAt - now) / 1000)));
}

/** GET mfeOperationsStatus/{id}. */
export function operationStatus(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const op = state.operationIn(t.subscriptionId, t.operationId);
  if (!op) {
    return armError(ctx, 404, 'NotFound', `Operation '${t.operationId}' was not found.`);
  }
  send(
    ctx,
    200,
    operationStatusBody(op, t.subscriptionId, ctx.now),
    op.done ? {} : { 'retry-after': retryAfter(op, ctx.now) },
  );
}

/** GET mfeOperationResults/{id}: 202 while running, 200 with the operation's result (if any) when done. */
export function operationResult(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const op = state.operationIn(t.subscriptionId, t.operationId);
  if (!op) {
    return armError(ctx, 404, 'NotFound', `Operation '${t.operationId}' was not found.`);
  }
  if (!op.done) {
    const [, result] = operationUrls(state, op, ctx.query.get('api-version') ?? '');
    return send(ctx, 202, undefined, { location: result, 'retry-after': retryAfter(op, ctx.now) });
  }
  send(ctx, 200, op.result);
}
