import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { TOKEN_RESPONSE_HEADERS } from './stats';

/**
 * Benchmark baseline, run as its own process like the Functions host: a bare Node `http` server that
 * answers every request with the fixed body in the file named by argv[2] (the machine's limit for
 * this response). Prints `Bare server listening on <url>`; exits on SIGTERM.
 */
const body = Buffer.from(readFileSync(process.argv[2] ?? '', 'utf8'));
const headers = { ...TOKEN_RESPONSE_HEADERS, 'content-length': String(body.length) };
const server = createServer((_req, res) => {
  res.writeHead(200, headers).end(body);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(
    `Bare server listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`,
  );
});
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
