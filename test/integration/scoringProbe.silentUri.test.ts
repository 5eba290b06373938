import { DEFAULT_PROBE } from '../../shared/endpoints/validateProbe';
import { HttpScoringProbe } from '../../shared/rotation/adapters/HttpScoringProbe';
import { failureOf, SilentServer } from '../support/SilentServer';
import { waitFor } from '../support/waitFor';

/** The test step's limit on one scoring call (RotationSteps' MAX_TEST_ATTEMPT_MS). */
const CALL_TIME_LIMIT_MS = 10_000;

/**
 * The fetch adapter of the test step's scoring call, against a scoring URI that accepts connections and
 * never answers: the call ends at its time limit or when its caller (a rotation run out of time) gives it
 * up, whichever comes first, and its connection is closed either way. (Node's fetch then opens one spare
 * connection that it never uses, whichever signal fired: so "closed", not "none open".)
 */
describe('Class: HttpScoringProbe facing a scoring URI that does not answer', () => {
  let silent: SilentServer;
  const probe = new HttpScoringProbe();
  const closed = (): number => silent.connections().accepted - silent.connections().open;

  beforeAll(async () => {
    silent = await SilentServer.start();
  });

  afterAll(async () => {
    await silent?.stop();
  });

  it('gives the call up as soon as the run is out of time, with the signal reason, and closes its connection', async () => {
    // Prepare: the run's signal, fired 200 ms into the call
    const run = new AbortController();
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    setTimeout(() => run.abort(reason), 200);
    const closedBefore = closed();

    // Act
    const { error, ms } = await failureOf(() =>
      probe.call(`http://127.0.0.1:${silent.port}`, 'new-key', DEFAULT_PROBE, CALL_TIME_LIMIT_MS, run.signal),
    );

    // Assess: not its 10-s limit; the run's reason, which KeyRotator turns into ROTATION_OUT_OF_TIME
    expect(error).toBe(reason);
    expect(ms).toBeLessThan(CALL_TIME_LIMIT_MS / 2);
    await waitFor('its connection closed', () => closed() > closedBefore, { timeoutMs: 2000 });
  });

  it('still ends a call at its time limit when given a signal that does not fire', async () => {
    // Prepare
    const run = new AbortController();
    const closedBefore = closed();

    // Act
    const { error, ms } = await failureOf(() =>
      probe.call(`http://127.0.0.1:${silent.port}`, 'new-key', DEFAULT_PROBE, 300, run.signal),
    );

    // Assess
    expect((error as Error).name).toBe('TimeoutError');
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(run.signal.aborted).toBe(false);
    await waitFor('its connection closed', () => closed() > closedBefore, { timeoutMs: 2000 });
  });
});
