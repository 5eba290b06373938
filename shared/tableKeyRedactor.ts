import type { AzureMonitorOpenTelemetryOptions } from 'applicationinsights';

/** The OpenTelemetry span processor type the SDK takes (type only: nothing is loaded at import). */
type SdkSpanProcessor = NonNullable<AzureMonitorOpenTelemetryOptions['spanProcessors']>[number];

/** Span attributes a dependency's name, data and target are built from (old and new HTTP conventions). */
const URL_ATTRIBUTES = ['url.full', 'http.url', 'http.target', 'url.path'] as const;

/**
 * Drops the keys from a Table storage entity address: `/<table>(PartitionKey='…',RowKey='…')` becomes
 * `/<table>(redacted)`. A point read puts its RowKey into the URL, and the broker reads the client id
 * it was sent, which is a client secret when a caller swaps the two (`curl -u "$SECRET:$ID"`).
 */
export function redactTableKeys(url: string): string {
  return url.replace(/(\/[A-Za-z][A-Za-z0-9]*)\([^?#]*/g, '$1(redacted)');
}

/** Hands `write` each URL attribute that carries Table entity keys, with the keys stripped. */
function redactUrlAttributes(
  attributes: Readonly<Record<string, unknown>>,
  write: (name: string, value: string) => void,
): void {
  for (const name of URL_ATTRIBUTES) {
    const value = attributes[name];
    if (typeof value === 'string' && value.includes('(')) write(name, redactTableKeys(value));
  }
}

/**
 * Strips Table entity keys from the URL attributes of every span (see {@link redactTableKeys}): at
 * start, before the SDK's own processor feeds Live Metrics and standard metrics with them at end, and
 * again at end, before the exporter, for any set meanwhile.
 */
export const tableKeyRedactor: SdkSpanProcessor = {
  onStart(span) {
    redactUrlAttributes(span.attributes, (name, value) => span.setAttribute(name, value));
  },
  onEnd(span) {
    // Ended spans ignore setAttribute; the exporter reads this same attributes object.
    const attributes = span.attributes as Record<string, unknown>;
    redactUrlAttributes(attributes, (name, value) => (attributes[name] = value));
  },
  forceFlush: async () => {},
  shutdown: async () => {},
};
