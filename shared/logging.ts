/**
 * The one logging port every service receives. Messages read `Component => operation =>
 * outcome`; properties carry names, ids, versions and hashes, never key, token or secret values.
 */
export interface Logger {
  debug(message: string, props?: LogProps): void;
  info(message: string, props?: LogProps): void;
  warn(message: string, props?: LogProps): void;
  error(message: string, props?: LogProps): void;
}

/** Structured, secret-free properties of a log line. */
export type LogProps = Record<string, string | number | boolean | null | undefined>;

/** Where formatted lines go: `context.log`-style sinks or the console. */
export type LogSink = (level: 'debug' | 'info' | 'warn' | 'error', line: string) => void;

/**
 * Property names that must never be logged even if a caller passes them by mistake. Defence in depth:
 * the primary rule is that secret values are never handed to a logger at all.
 */
const SECRET_WORD =
  /(?:^|[_-])(?:keys?|value|tokens?|secrets?|password|authorization|pepper|assertion|credentials?|connectionstring|sig|signature|sas|header)$/i;
const SECRET_CAMEL_SUFFIX =
  /[a-z0-9](?:Keys?|Value|Tokens?|Secrets?|Password|Authorization|Pepper|Assertion|Credentials?|ConnectionString|Signature|Sas|Header)$/;

/** True for property names such as `key`, `access_token` or `clientSecret` that must never carry a value out. */
export function isSecretPropertyName(name: string): boolean {
  return SECRET_WORD.test(name) || SECRET_CAMEL_SUFFIX.test(name);
}

/** Line breaks and other control characters, which a value from a request would otherwise print as is. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** A value as one line: `\r`, `\n` and any other control character become JSON-style escapes. */
function oneLine(value: string): string {
  return value.replace(CONTROL, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function formatProps(props: LogProps | undefined): string {
  if (!props) return '';
  const parts: string[] = [];
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined) continue;
    // Ids, types and versions may come from a request body (an event): one value, one line.
    parts.push(`${name}=${isSecretPropertyName(name) ? '[redacted]' : oneLine(String(value))}`);
  }
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/**
 * Builds a logger whose lines start with `component`.
 * @param component - prefix such as `KeyRotator`
 * @param sink - where lines go; defaults to the console
 * @example createLogger('KeyRotator').info('rotate => finished', { endpoint: 'demo-key', slot: 'Secondary' })
 */
export function createLogger(component: string, sink: LogSink = consoleSink): Logger {
  const write = (level: Parameters<LogSink>[0]) => (message: string, props?: LogProps) =>
    sink(level, `${component} => ${message}${formatProps(props)}`);
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** Writes to the console, the default outside a Functions invocation. */
export const consoleSink: LogSink = (level, line) => {
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else if (level === 'debug') console.debug(line);
  else console.log(line);
};

/** Minimal structural view of `InvocationContext` logging, so shared/ does not depend on the host. */
export interface ContextLogMethods {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** Adapts an invocation context's log methods to a sink. */
export function contextSink(context: ContextLogMethods): LogSink {
  return (level, line) => context[level](line);
}

/** A logger that drops everything; for tests and benchmarks that do not read logs. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
