/** Where the app's HTTP routes start on its own host (host.json `extensions.http.routePrefix`). */
const ROUTE_PREFIX = '/api';

/**
 * The URL of an admin route (`manage/endpoints/x`) as callers reach it, for the links the admin API
 * answers: a page's `nextLink` and a created record's `Location`. Behind a gateway (API Management, Front
 * Door) the request's own URL names the Functions host, which callers may not reach, so
 * `ADMIN_PUBLIC_BASE_URL`, when set, stands for the app's `/api`. `X-Forwarded-Host` is not used instead:
 * a caller can set it, and the link would send the next call, with the admin key, wherever it names.
 * @param publicBaseUrl - `config.admin.publicBaseUrl`
 * @param origin - the request's origin, used without a public base; empty gives a path (a `Location` may be one)
 */
export function adminRouteUrl(route: string, publicBaseUrl: string | undefined, origin = ''): string {
  return `${publicBaseUrl ?? `${origin}${ROUTE_PREFIX}`}/${route}`;
}
