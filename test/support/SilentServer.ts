import { createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP server that accepts every connection and never says a word, not even a TLS handshake: a
 * dependency that has stopped answering while its connections stay open. It counts the connections it
 * has accepted and those the client has closed.
 */
export class SilentServer {
  private readonly sockets = new Set<Socket>();
  private accepted = 0;
  private closed = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (socket) => {
      this.accepted += 1;
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      // Reads (and drops) what arrives: a socket never read never sees the client's end, nor closes.
      socket.resume();
      socket.on('close', () => {
        this.closed += 1;
        this.sockets.delete(socket);
      });
    });
  }

  static async start(): Promise<SilentServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('SilentServer: no port');
    return new SilentServer(server, address.port);
  }

  /** Connections accepted so far, and how many of them are still open. */
  connections(): { accepted: number; open: number } {
    return { accepted: this.accepted, open: this.accepted - this.closed };
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Runs `call`, which must fail; returns its error and how long it took. */
export async function failureOf(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await call().then(
    () => new Error('the call answered'),
    (e: unknown) => e,
  );
  return { error, ms: Date.now() - started };
}
