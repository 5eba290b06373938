import { type Clock, TimeLimitError, withinTimeLimitGivingUp } from '../clock';
import { ValidationError } from '../errors';
import type { Logger } from '../logging';
import type { Telemetry } from '../telemetry';
import { EventDeliveryOutOfTimeError, MalformedEventError } from './errors';
import { type EventOutcome, eventOutcome } from './EventOutcome';
import type { EventRouter } from './EventRouter';
import type { IncomingEvent } from './IncomingEvent';
import { type DeliveryRequest, parseDelivery } from './parseDelivery';
import type { ProcessedEventStore } from './ProcessedEventStore';

/** A transport-neutral webhook reply; the function maps it to `HttpResponseInit`. */
export interface WebhookReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly jsonBody?: unknown;
}

/** Options of {@link EventWebhook}. */
export interface EventWebhookOptions {
  router: Pick<EventRouter, 'validate' | 'route'>;
  processed: ProcessedEventStore;
  clock: Clock;
  logger: Logger;
  telemetry: Telemetry;
  /**
   * How long the events of one delivery may take, all of them together, before it is answered 503 for Event
   * Grid to deliver it again. @default DELIVERY_BUDGET_MS
   */
  budgetMs?: number;
}

/**
 * Default of {@link EventWebhookOptions.budgetMs}: Event Grid waits 30 s for a delivery's answer, then counts
 * it failed and delivers it again while this one may still be running. 5 s are left for the host and the
 * network to carry the answer back.
 */
export const DELIVERY_BUDGET_MS = 25_000;

/**
 * The Event Grid webhook: handshakes, then parse → validate all → for each event skip if already
 * processed, react, remember. Events are remembered only after their reaction succeeded, so a 503
 * (retry) never loses an event; a concurrent duplicate may react twice, which the rotation lease and
 * journal absorb.
 * @example const reply = await webhook.deliver({ header: (n) => req.headers.get(n), body })
 */
export class EventWebhook {
  constructor(private readonly options: EventWebhookOptions) {}

  /**
   * CloudEvents abuse protection (OPTIONS): grant the origin that asked, any rate. The function key
   * in the URL already restricts who can reach this, so no origin allow-list is kept.
   * @throws ValidationError (400 problem details) naming the header when the origin is missing
   */
  handshake(request: Pick<DeliveryRequest, 'header'>): WebhookReply {
    const origin = request.header('webhook-request-origin')?.trim();
    if (!origin) {
      throw new ValidationError([
        { field: 'WebHook-Request-Origin', message: 'header is required in the CloudEvents handshake' },
      ]);
    }
    this.options.logger.info('handshake => CloudEvents origin granted', { origin });
    return {
      status: 200,
      headers: { 'webhook-allowed-origin': origin, 'webhook-allowed-rate': '*', allow: 'POST, OPTIONS' },
    };
  }

  /** A POSTed delivery. @throws MalformedEventError (400) or DependencyUnavailableError (503) */
  async deliver(request: DeliveryRequest): Promise<WebhookReply> {
    const { logger, router } = this.options;
    const delivery = this.parseAndLog(request);
    if (delivery.kind === 'validation') {
      logger.info('validation => subscription validation answered');
      return { status: 200, headers: {}, jsonBody: { validationResponse: delivery.validationCode } };
    }
    // Validate the whole batch before reacting to any of it: a 400 then means "nothing happened".
    this.logMalformed(() => delivery.events.forEach((event) => router.validate(event)));
    const results = await this.handleAll(delivery.events);
    return { status: 200, headers: {}, jsonBody: { results } };
  }

  /**
   * Handles the events in order within the delivery's budget, which every call draws from: the dedup
   * store's, the reactions' (registry, Key Vault, drift check, queue, topic). Once it is spent, the calls
   * under way are given up through the signal and the delivery is answered 503: events done before are
   * remembered and skipped by the redelivery, and the one cut reacts again then (every reaction is
   * idempotent: version checks, the rotation lease, event ids derived from the incoming event's).
   * @throws EventDeliveryOutOfTimeError (503) when the budget ran out
   */
  private async handleAll(events: readonly IncomingEvent[]): Promise<EventOutcome[]> {
    const budgetMs = this.options.budgetMs ?? DELIVERY_BUDGET_MS;
    const results: EventOutcome[] = [];
    try {
      // Raced as well as handed the signal: a call that heeds it late still does not hold the answer up.
      await withinTimeLimitGivingUp(async (budget) => {
        for (const event of events) {
          // A call that ignored the signal and answered late: the next event is not begun.
          budget.throwIfAborted();
          results.push(await this.handleOne(event, budget));
        }
      }, budgetMs);
    } catch (error) {
      if (!(error instanceof TimeLimitError)) throw error;
      const cut = events[results.length];
      // Counted, not only logged, for an alert or a chart: a dependency slow enough to cost retries.
      this.options.telemetry.trackMetric('EventsOutOfTime', 1, {
        type: cut?.type.slice(0, 200) ?? 'unknown',
      });
      this.options.logger.warn('deliver => out of time, answered 503 for Event Grid to deliver it again', {
        eventId: cut?.id,
        type: cut?.type,
        done: results.length,
        events: events.length,
        budgetMs,
      });
      throw new EventDeliveryOutOfTimeError(budgetMs, results.length, events.length, { cause: error });
    }
    return results;
  }

  private parseAndLog(request: DeliveryRequest): ReturnType<typeof parseDelivery> {
    return this.logMalformed(() => parseDelivery(request));
  }

  /** One clear line per rejected delivery: field names and what is wrong, never values. */
  private logMalformed<T>(step: () => T): T {
    try {
      return step();
    } catch (error) {
      if (error instanceof MalformedEventError) {
        this.options.logger.warn('deliver => malformed delivery rejected (400, dead-lettered)', {
          issues: error.message.slice(0, 500),
        });
        this.options.telemetry.trackMetric('EventsMalformed', 1);
      }
      throw error;
    }
  }

  private async handleOne(event: IncomingEvent, budget: AbortSignal): Promise<EventOutcome> {
    const { processed, router, clock, telemetry } = this.options;
    const eventTime = timeOf(event) ?? new Date(clock.now());
    if (await processed.has(event.id, eventTime, budget)) {
      telemetry.trackMetric('EventsDuplicate', 1, { type: event.type });
      return eventOutcome(event, 'duplicate');
    }
    const result = await router.route(event, budget);
    const record = { id: event.id, type: event.type, eventTime, outcome: result.action };
    await processed.markProcessed(record, budget);
    telemetry.trackMetric('EventsProcessed', 1, { type: event.type, action: result.action });
    return result;
  }
}

function timeOf(event: IncomingEvent): Date | undefined {
  if (!event.time) return undefined;
  const time = new Date(event.time);
  return Number.isNaN(time.getTime()) ? undefined : time;
}
