import type { HttpRequest } from '@azure/functions';

import { adminRouteUrl } from './adminLinks';
import { type FieldIssue, ValidationError } from './errors';

/**
 * Paged lists of the admin API, shaped the way Azure's own list operations are (ARM: `$top`,
 * `$skipToken`; a body of `value` and, unless it is the last page, an absolute `nextLink`). One list
 * used to be every record in one body, read whole into memory: with 1,000 endpoints of maximal probe
 * that was about 17 MB per call.
 *
 * A page starts after a key (keyset paging): the `$skipToken` carries the row key the previous page
 * ended at, and the registry asks Table storage for the rows after it. So a record written or deleted
 * between two calls never shifts the others, and a walk sees every record that existed throughout it
 * exactly once. The token is opaque to callers but not signed: a token edited into another well-formed
 * one only starts the page elsewhere in the same list, which an admin-key holder may read anyway;
 * anything else is refused with a 400 naming `$skipToken`.
 */

/** Records per page when the caller names no `$top`. */
export const DEFAULT_PAGE_SIZE = 100;
/** The largest `$top`: Table storage's own largest page, so a page is usually one storage request. */
export const MAX_PAGE_SIZE = 1000;

/** Which page of a list to read. */
export interface PageRequest {
  /** Records at most (1 to {@link MAX_PAGE_SIZE}). */
  readonly top: number;
  /** The key the previous page ended at; the page holds keys after it only. Absent: from the start. */
  readonly after?: string;
}

/** One page of records in key order. */
export interface Page<T> {
  readonly items: readonly T[];
  /** Where the next page starts (exclusive); absent on the last page. */
  readonly after?: string;
}

/**
 * A record a page skipped because it cannot be read (a row edited by hand): its id, and the `code` and
 * `message` a read of it answers, which name fields, never the row's content. Skipped rows are not in
 * `value`, so a client that reads `value` only sees records it can use, and one that reads this member
 * learns that a registration exists and how to mend it, rather than finding it only in the logs.
 */
export interface UnreadableRecord {
  readonly id: string;
  readonly code: string;
  readonly message: string;
}

/** A page as the admin API answers it: its records, and those in its key range it skipped. */
export interface ListedPage<T> extends Page<T> {
  /** In key order, each in one page of a walk only; absent when none. */
  readonly unreadable?: readonly UnreadableRecord[];
}

/**
 * A registry's page as the admin API lists it: each row it skipped becomes the id with the `code` and
 * `message` a read of that row answers (`readError`, the registry's unreadable-record error), and
 * `unreadable` is absent when it skipped none.
 */
export function listedPage<T, Skipped extends { readonly id: string }>(
  page: Page<T>,
  skipped: readonly Skipped[] | undefined,
  readError: (row: Skipped) => { readonly code: string; readonly message: string },
): ListedPage<T> {
  if (!skipped?.length) return page;
  return {
    ...page,
    unreadable: skipped.map((row) => {
      const { code, message } = readError(row);
      return { id: row.id, code, message };
    }),
  };
}

/** Anything that reads a list one page at a time (the registries' `listPage`). */
export type ListPage<T> = (request: PageRequest) => Promise<Page<T>>;

/**
 * Every record of a paged list, in key order, read one page of `top` at a time: what a caller walking a
 * whole registry holds is one page, never the list (every endpoint at its largest, about 30 KB each, was
 * 30 MB per 1,000 when read whole). A page is read when the one before it has been taken; a caller that
 * stops early reads no further. 100 records keep a page of the largest endpoints near 3 MB, and 5,000
 * endpoints take 50 storage queries, few beside the per-endpoint reads of a walk that does anything
 * with each.
 */
export async function* eachListed<T>(listPage: ListPage<T>, top = DEFAULT_PAGE_SIZE): AsyncGenerator<T> {
  let after: string | undefined;
  do {
    const page = await listPage(after === undefined ? { top } : { top, after });
    // A page that ends where it started would be read again and again.
    if (page.after !== undefined && page.after === after)
      throw new Error(`listPage did not move past ${after}`);
    after = page.after;
    yield* page.items;
  } while (after !== undefined);
}

/** The admin lists that page; a token of one is refused by the other. */
export type ListName = 'endpoints' | 'clients';

const TOP = '$top';
const SKIP_TOKEN = '$skipToken';
const PAGING_PARAMETERS = [TOP, SKIP_TOKEN];
const TOKEN_VERSION = 1;
/** A row key is at most 1 KiB; its token (JSON, base64url) stays well inside this. */
const MAX_TOKEN_CHARS = 4096;
/** Characters Table storage refuses in a key (learn.microsoft.com, "Understanding the Table service data model"). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_IN_ROW_KEY = /[/\\#?\u0000-\u001f\u007f-\u009f]/;

/** Reads `$top` and `$skipToken` of a list request; a 400 names each bad one. */
export function readPageRequest(request: HttpRequest, list: ListName): PageRequest {
  const issues: FieldIssue[] = misspelledPaging(request);
  const top = readTop(request, issues);
  const token = single(request, SKIP_TOKEN, issues);
  const after = token === undefined ? undefined : readSkipToken(token, list);
  if (token !== undefined && after === undefined)
    issues.push({
      field: SKIP_TOKEN,
      message: `must be the ${SKIP_TOKEN} of a nextLink this list answered; start again without it`,
    });
  if (issues.length > 0) throw new ValidationError(issues);
  return after === undefined ? { top } : { top, after };
}

/**
 * The response body of a page: `value`; `unreadable`, only when the page skipped records that cannot be
 * read (so a page may hold fewer than `$top`, even none, while more follow); and the absolute `nextLink`
 * to the next page unless this is the last. The link names the list's route at the request's own origin,
 * or under `publicBaseUrl` ({@link adminRouteUrl}), and carries only `$top` and `$skipToken`: not a
 * `code` query parameter, so the admin key never lands in a response body (send it in the
 * `x-functions-key` header).
 */
export function pageBody<T>(
  request: HttpRequest,
  list: ListName,
  { top }: PageRequest,
  page: ListedPage<T>,
  publicBaseUrl?: string,
): { value: readonly T[]; unreadable?: readonly UnreadableRecord[]; nextLink?: string } {
  // Absent rather than empty when none: a clean page is the body it was before the member existed.
  const listed = page.unreadable?.length
    ? { value: page.items, unreadable: page.unreadable }
    : { value: page.items };
  if (page.after === undefined) return listed;
  const route = adminRouteUrl(`manage/${list}`, publicBaseUrl, new URL(request.url).origin);
  const token = Buffer.from(JSON.stringify({ v: TOKEN_VERSION, list, after: page.after })).toString(
    'base64url',
  );
  // `$` spelled out, as Azure's nextLinks do; base64url needs no escaping.
  return { ...listed, nextLink: `${route}?${TOP}=${top}&${SKIP_TOKEN}=${token}` };
}

function readTop(request: HttpRequest, issues: FieldIssue[]): number {
  const text = single(request, TOP, issues);
  if (text === undefined) return DEFAULT_PAGE_SIZE;
  const top = /^[0-9]{1,4}$/.test(text) ? Number(text) : NaN;
  if (top >= 1 && top <= MAX_PAGE_SIZE) return top;
  issues.push({ field: TOP, message: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` });
  return DEFAULT_PAGE_SIZE;
}

/**
 * `top=5` or `$skiptoken=…` would otherwise be ignored like any unknown parameter, and the caller would get
 * the default page, or the first page again, with no sign why. The names are exact, as ARM's own lists
 * document them.
 */
function misspelledPaging(request: HttpRequest): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const name of new Set(request.query.keys())) {
    const meant = PAGING_PARAMETERS.find((p) => p.toLowerCase() === name.replace(/^\$?/, '$').toLowerCase());
    if (meant !== undefined && meant !== name)
      issues.push({ field: name, message: `is not a parameter of this list; did you mean ${meant}?` });
  }
  return issues;
}

/**
 * The parameter's one value; undefined when absent, and when empty or repeated, which is also an
 * issue: which page was meant?
 */
function single(request: HttpRequest, name: string, issues: FieldIssue[]): string | undefined {
  const values = request.query.getAll(name);
  if (values.length > 1) issues.push({ field: name, message: 'must be given once' });
  else if (values[0] === '') issues.push({ field: name, message: 'must not be empty' });
  return values.length === 1 && values[0] !== '' ? values[0] : undefined;
}

/** The key a token this list issued names; undefined for anything else (edited, cut short, another list's). */
function readSkipToken(token: string, list: ListName): string | undefined {
  if (token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  // Decoding skips what is not base64url and stray bits; only a token that encodes back is one we made.
  if (bytes.toString('base64url') !== token) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  const { v, list: named, after } = (parsed ?? {}) as { v?: unknown; list?: unknown; after?: unknown };
  const isKey =
    typeof after === 'string' && after.length > 0 && after.length <= 1024 && !NOT_IN_ROW_KEY.test(after);
  return v === TOKEN_VERSION && named === list && isKey ? after : undefined;
}
