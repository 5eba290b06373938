import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { waitFor } from '../support/waitFor';

const run = promisify(execFile);
const REPO = join(__dirname, '..', '..');

/** A process as `ps` saw it; its start time keeps a reused process id from passing for it. */
interface SeenProcess {
  readonly pid: number;
  readonly since: string;
}

function processTable(): Array<SeenProcess & { ppid: number }> {
  return execFileSync('ps', ['-eo', 'pid=,ppid=,lstart='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => {
      const [pid = '', ppid = '', ...since] = line.trim().split(/\s+/);
      return { pid: Number(pid), ppid: Number(ppid), since: since.join(' ') };
    });
}

/** The processes below `pid` (children, grandchildren, …). */
function descendantsOf(pid: number): SeenProcess[] {
  const table = processTable();
  const found: SeenProcess[] = [];
  const walk = (parent: number): void => {
    for (const row of table)
      if (row.ppid === parent) {
        found.push({ pid: row.pid, since: row.since });
        walk(row.pid);
      }
  };
  walk(pid);
  return found;
}

function isRunning(seen: SeenProcess): boolean {
  return processTable().some((row) => row.pid === seen.pid && row.since === seen.since);
}

/** `npm start` running in a copy of the built app, and what it printed and started. */
interface RunningStack {
  readonly root: string;
  readonly start: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Every process the script started by the time its banner was printed. */
  readonly started: SeenProcess[];
}

/**
 * Starts the real start script in its own process, the way a terminal runs it (its own process group,
 * which Ctrl-C signals as a whole), in a copy of the built app with its own `.local/`, so that a stack the
 * developer has running keeps its `stack.json`; resolves once the banner is printed.
 */
async function startStackInCopy(): Promise<RunningStack> {
  const root = mkdtempSync(join(tmpdir(), 'amlcb-start-'));
  cpSync(join(REPO, 'dist'), join(root, 'dist'), { recursive: true });
  for (const file of ['host.json', 'package.json']) copyFileSync(join(REPO, file), join(root, file));
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
  const start = spawn(process.execPath, [join(root, 'dist', 'local', 'start.js')], {
    cwd: root,
    env: { ...process.env, LOCAL_FUNCTIONS_PORT: '0', LOCAL_EMULATOR_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  start.stdout?.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  start.stderr?.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  await waitFor('the start banner', () => output.includes('Ctrl-C stops everything.'), {
    timeoutMs: 120_000,
    describe: () => output.slice(-3000),
  });
  return { root, start, output: () => output, started: descendantsOf(start.pid as number) };
}

/** Kills whatever of the stack is still running (a failed test included) and removes its copy. */
function removeStack(stack: RunningStack | undefined, seen: SeenProcess[]): void {
  if (!stack) return;
  const { start, root } = stack;
  const left = start.pid === undefined ? seen : [...seen, ...descendantsOf(start.pid)];
  for (const p of left) if (isRunning(p)) process.kill(p.pid, 'SIGKILL');
  if (start.exitCode === null && start.signalCode === null) start.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}

/** The stack one describe block tests: `stack` once its beforeAll ran, and every process it is known to have started. */
interface StackUnderTest {
  readonly stack: RunningStack;
  /** Every process the script started, so that a failed test still leaves none behind. */
  started: SeenProcess[];
}

/** Starts the stack in a copy before the block's tests, and kills and removes whatever is left of it after them. */
function useStackInCopy(): StackUnderTest {
  let running: RunningStack | undefined;
  const underTest: StackUnderTest = {
    get stack(): RunningStack {
      if (!running) throw new Error('the stack has not started (did its beforeAll fail?)');
      return running;
    },
    started: [],
  };
  beforeAll(async () => {
    running = await startStackInCopy();
    underTest.started = running.started;
  }, 150_000);
  afterAll(() => removeStack(running, underTest.started));
  return underTest;
}

/** Waits until none of `started` runs any more, naming the ones still running on timeout. */
async function waitForEveryProcessToExit(started: SeenProcess[]): Promise<void> {
  await waitFor('every process npm start started to exit', () => !started.some(isRunning), {
    timeoutMs: 15_000,
    describe: () =>
      `still running: ${started
        .filter(isRunning)
        .map((p) => p.pid)
        .join(', ')}`,
  });
}

/** What each kind of printed command must answer, recognised by its route. */
function expectedShape(command: string): { route: string; accepts: (answer: unknown) => boolean } {
  const withFields =
    (...fields: string[]) =>
    (answer: unknown): boolean =>
      typeof answer === 'object' && answer !== null && fields.every((field) => field in answer);
  const shapes = [
    { route: '/api/health', accepts: withFields('status', 'dependencies') },
    { route: '/api/oauth2/token', accepts: withFields('access_token', 'token_type', 'expires_in', 'scope') },
    { route: '/api/msi/token', accepts: withFields('access_token', 'expires_on', 'resource', 'token_type') },
    {
      route: '/token',
      accepts: withFields('accessToken', 'tokenType', 'expiryTimeUtc', 'refreshAfterTimeUtc'),
    },
    { route: '/api/manage/endpoints/', accepts: withFields('endpoint') },
    // The stand-in's model answers a list (one sum per row) only with a 200; a refusal is an object.
    { route: '/inference/', accepts: (answer: unknown) => Array.isArray(answer) },
  ];
  const shape = shapes.find((s) => command.includes(s.route));
  if (!shape) throw new Error(`the banner printed a command this test does not know: ${command}`);
  return shape;
}

/** `npm start` as a user runs it (`startStackInCopy`); every `curl` line its banner prints is run as pasted, by bash. */
describe('npm start (the start script in its own process)', () => {
  const npmStart = useStackInCopy();

  it('prints a curl line for each protocol, and every printed curl line works as pasted', async () => {
    // Prepare: a printed `NAME=$(…)` line (the scoring line's token) is pasted before the curl lines after it
    const { stack } = npmStart;
    const pasted = stack
      .output()
      .split('\n')
      .filter((line) => /^\s+(curl |[A-Z_]+=\$\()/.test(line))
      .map((line) => line.trim());
    const commands = pasted.filter((line) => line.startsWith('curl '));
    const script = (command: string): string =>
      [...pasted.slice(0, pasted.indexOf(command)).filter((line) => !line.startsWith('curl ')), command].join(
        '\n',
      );

    // Act: the Key endpoint's key exists once its first rotation has run, seconds after the banner
    const answers = [];
    for (const command of commands) {
      const shape = expectedShape(command);
      const body = await waitFor(
        `an answer ${shape.route} accepts to: ${command}`,
        async () => {
          try {
            const { stdout } = await run('bash', ['-c', script(command)], {
              cwd: stack.root,
              timeout: 30_000,
            });
            const parsed = JSON.parse(stdout) as unknown;
            return shape.accepts(parsed) ? (parsed as Record<string, unknown>) : undefined;
          } catch {
            return undefined; // curl failed, or the answer was not JSON yet
          }
        },
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
      answers.push({ route: shape.route, body });
    }

    // Assess
    for (const route of ['/api/oauth2/token', '/api/msi/token', '/token', '/api/health', '/inference/'])
      expect(commands.some((c) => expectedShape(c).route === route)).toBe(true);
    // The demo AMLToken endpoint scored its sample row (1 + 2 + 3) with a token the broker handed out
    expect(answers.filter((a) => a.route === '/inference/').map((a) => a.body)).toContainEqual([6]);
    expect(answers.filter((a) => a.route === '/token').map((a) => a.body['tokenType'])).toEqual(
      expect.arrayContaining(['Bearer']),
    );
    const stackFile = JSON.parse(readFileSync(join(stack.root, '.local', 'stack.json'), 'utf8')) as {
      clientSecret: string;
      masterKey: string;
      demo: { scoringUris: Record<string, string> };
    };
    // The scoring URI a user reads in stack.json is the one the banner printed and the line scored
    const scoringUri = stackFile.demo.scoringUris['demo-token-endpoint'] ?? '(none)';
    expect(scoringUri).toMatch(
      /^https:\/\/127\.0\.0\.1:\d+\/inference\/demo-ws\/demo-token-endpoint\/score$/,
    );
    expect(commands.some((c) => expectedShape(c).route === '/inference/' && c.includes(scoringUri))).toBe(
      true,
    );
    expect(stack.output()).not.toContain(stackFile.clientSecret);
    expect(stack.output()).not.toContain(stackFile.masterKey);
    for (const { body } of answers) {
      const token = body['access_token'] ?? body['accessToken'];
      if (typeof token === 'string') expect(stack.output()).not.toContain(token);
    }
  });

  it('stops itself and every process it started on Ctrl-C', async () => {
    // Prepare: the processes started since the banner count too
    const { stack } = npmStart;
    const pid = stack.start.pid as number;
    const known = new Set(npmStart.started.map((p) => p.pid));
    npmStart.started = [...npmStart.started, ...descendantsOf(pid).filter((p) => !known.has(p.pid))];
    const exited = new Promise<number | null>((resolve) => stack.start.once('exit', (code) => resolve(code)));

    // Act: what a terminal does on Ctrl-C, SIGINT to the whole foreground process group
    process.kill(-pid, 'SIGINT');
    const code = await exited;

    // Assess
    expect(npmStart.started.length).toBeGreaterThanOrEqual(2); // Azurite and the Functions host at least
    expect(code).toBe(0);
    expect(stack.output()).toContain('SIGINT received: stopping the local stack');
    await waitForEveryProcessToExit(npmStart.started);
  });
});

describe('npm start stopped with Ctrl-C twice (the second before the first has stopped everything)', () => {
  const npmStart = useStackInCopy();

  it('stops at once and leaves no process behind, Azurite in its own process group included', async () => {
    // Prepare
    const { stack } = npmStart;
    const pid = stack.start.pid as number;
    const exited = new Promise<void>((resolve) => stack.start.once('exit', () => resolve()));

    // Act: Ctrl-C, then Ctrl-C again while the stack is still stopping
    process.kill(-pid, 'SIGINT');
    await waitFor('the first Ctrl-C to be taken', () => stack.output().includes('SIGINT received'), {
      intervalMs: 5,
    });
    try {
      process.kill(-pid, 'SIGINT');
    } catch (error) {
      // The whole group may already be gone: the first stop can finish between two polls. Nothing is left to
      // check then but what the test asserts below.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    await exited;

    // Assess
    expect(npmStart.started.length).toBeGreaterThanOrEqual(2);
    await waitForEveryProcessToExit(npmStart.started);
  });
});
