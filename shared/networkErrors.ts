/** Error codes Node and the Azure SDK pipeline use when a request never got an HTTP answer. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
  'UND_ERR_SOCKET',
]);

/** True when `code` (an error's `code` property) means the dependency could not be reached at all. */
export function isNetworkErrorCode(code: unknown): boolean {
  return typeof code === 'string' && NETWORK_ERROR_CODES.has(code);
}

/** HTTP status of an Azure SDK error (`RestError.statusCode`), if it got an answer at all. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** What an error `code` may look like to be reported: Azure's and Node's codes are short identifiers. */
const ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The `code` of an Azure SDK or Node error (`ServerBusy`, `ECONNREFUSED`, …) for a log line or event, if it
 * has one that looks like a code: a service may put any text of its answer there.
 */
export function errorCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ERROR_CODE.test(code) ? code : undefined;
}

/**
 * True when Key Vault refused to read a secret version because the version is disabled: 403 `Forbidden`
 * "Operation get is not allowed on a disabled secret." (inner code `SecretDisabled`, which the SDK's
 * `RestError` does not surface). The status alone reads as a missing role. "Disabled" alone is not
 * enough: a vault closed to public networks answers 403 "Public network access is disabled ..."
 * (`ForbiddenByConnection`), which is a denial.
 * @param error - the SDK's error (not a wrapper of it)
 */
export function isDisabledSecretRefusal(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  const text = [e?.code, e?.message].filter((part) => typeof part === 'string').join(' ');
  return statusOf(error) === 403 && /\bdisabled secret\b/i.test(text);
}

/**
 * Whether Key Vault refused a write because the name belongs to a deleted, recoverable secret (409 Conflict,
 * innererror `ObjectIsDeletedButRecoverable`; the SDK's `RestError` keeps the message, not the innererror).
 */
export function isDeletedSecretConflict(error: unknown): boolean {
  const e = error as { message?: unknown } | null;
  return (
    statusOf(error) === 409 && typeof e?.message === 'string' && /deleted but recoverable/i.test(e.message)
  );
}

/** The name of a thrown error (`RestError`, `AbortError`, …) for a log line: never its message, which may quote a request. */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown';
}
