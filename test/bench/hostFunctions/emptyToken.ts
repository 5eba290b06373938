import { readFileSync } from 'node:fs';

import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';

import { readBodyText } from '../../../shared/http';
import { TOKEN_RESPONSE_HEADERS } from '../stats';

/**
 * Benchmark baseline, never deployed: an empty function answering a fixed token-shaped body through the
 * same local host (and so the same request parsing, routing, invocation and response conversion) as the
 * broker's token function. The local host loads it only when the benchmark names it in
 * `LOCAL_FUNCTIONS_EXTRA_ENTRY_POINTS`. The body (same size as a real token answer, no real token) is
 * written by the benchmark once it knows that size, to the file named by `BENCH_EMPTY_BODY_FILE`, and
 * read on the first call only.
 */
let body: string | undefined;

function fixedAnswer(): HttpResponseInit {
  body ??= readFileSync(process.env['BENCH_EMPTY_BODY_FILE'] ?? '', 'utf8');
  return { status: 200, headers: { ...TOKEN_RESPONSE_HEADERS }, body };
}

// GET too: the baseline of the managed identity protocol's GET, asked with the same query and header.
app.http('benchEmptyToken', {
  route: 'bench/empty',
  methods: ['GET', 'POST'],
  authLevel: 'anonymous',
  handler: async (): Promise<HttpResponseInit> => fixedAnswer(),
});

/**
 * The empty function plus the one step no token request can skip: reading its form body the way the
 * broker does (through the library's `HttpRequest`, whose body is a web stream). Reported next to the
 * goal, not part of it, to show how much of the broker's extra cost that step is.
 */
app.http('benchEmptyTokenReadingBody', {
  route: 'bench/empty-reading-body',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: async (request: HttpRequest): Promise<HttpResponseInit> => {
    await readBodyText(request);
    return fixedAnswer();
  },
});
