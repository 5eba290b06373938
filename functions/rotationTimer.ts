import { app, type InvocationContext, type Timer } from '@azure/functions';

import type { RotationModule } from '../shared/rotation/module';
import { getServices } from '../shared/services';

/** Resolves the rotation module inside the invocation (tests pass one built over fakes). */
export type RotationResolver = () => Pick<RotationModule, 'scheduler'>;

const defaultResolver: RotationResolver = () => getServices().rotation;

/** Timer (`ROTATION_SCHEDULE`, NCRONTAB): enqueues one rotation job per due endpoint. */
export function rotationTimerHandler(resolve: RotationResolver = defaultResolver) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    const { due, enqueued, failed } = await resolve().scheduler.enqueueDue();
    context.log(`RotationTimer => enqueueDue => due=${due} enqueued=${enqueued} failed=${failed}`);
  };
}

app.timer('rotationTimer', { schedule: '%ROTATION_SCHEDULE%', handler: rotationTimerHandler() });
