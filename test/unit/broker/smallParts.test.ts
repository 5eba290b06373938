import { parseBasicAuthorization, presentedSecrets } from '../../../shared/broker/clientCredentials';
import { InvalidClientError } from '../../../shared/broker/errors';
import { FailureBackoff } from '../../../shared/broker/FailureBackoff';
import { formDecode, parseForm } from '../../../shared/broker/formUrlEncoded';
import { LruMap } from '../../../shared/broker/LruMap';
import { RateLimiter } from '../../../shared/broker/RateLimiter';
import { parseScope } from '../../../shared/broker/scope';
import { SecretHasher } from '../../../shared/broker/SecretHasher';

describe('Function: parseForm', () => {
  const recognised: ReadonlySet<string> = new Set(['a', 'a=', 'grant_type', 'scope', 'client_id']);

  it('decodes names and values as URLSearchParams does for well-formed bodies', () => {
    // Prepare
    const body = 'grant_type=client_credentials&scope=a%2Fb+c&client_id=caf%C3%A9&&x=%2B';
    // Act
    const form = parseForm(body, recognised);
    // Assess
    expect(Object.fromEntries(form)).toEqual(Object.fromEntries(new URLSearchParams(body)));
  });

  it('leaves out parameters sent without a value, as omitted ones (RFC 6749 §3.2)', () => {
    // Act
    const form = parseForm('empty=&bare&client_id=&client_id=x&scope', recognised);
    // Assess
    expect(Object.fromEntries(form)).toEqual({ client_id: 'x' });
  });

  it('ignores a repeated parameter it does not recognise, keeping the first value (RFC 6749 §3.2)', () => {
    // Act
    const form = parseForm('resource=r1&grant_type=g&resource=r2&foo=1&foo=%zz', recognised);
    // Assess
    expect(Object.fromEntries(form)).toEqual({ resource: 'r1', grant_type: 'g', foo: '1' });
  });

  it('ignores an unrecognised parameter whose name or value is not form-urlencoded (RFC 6749 §3.2)', () => {
    // Act
    const form = parseForm('grant_type=g&note=100%&x%zz=1&scope=s', recognised);
    // Assess: the raw value is kept, as URLSearchParams keeps it; a name that does not decode is left out.
    expect(Object.fromEntries(form)).toEqual({ grant_type: 'g', note: '100%', scope: 's' });
  });

  it('refuses a repeated recognised parameter and a malformed escape, naming the problem', () => {
    expect(() => parseForm('a=1&a=2', recognised)).toThrow('Parameter a is repeated.');
    expect(() => parseForm('a%3D=1&a%3D=2', recognised)).toThrow('Parameter a= is repeated.');
    expect(() => parseForm('a=%zz', recognised)).toThrow('The body is not form-urlencoded.');
    expect(() => formDecode('%')).toThrow('The body is not form-urlencoded.');
  });

  it('answers an empty body with no parameters', () => {
    expect(parseForm('', recognised).size).toBe(0);
  });
});

describe('Function: parseBasicAuthorization', () => {
  const basic = (text: string): string => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;

  it('reads an ASCII id and secret, and the UTF-8 of a client that skipped form-encoding', () => {
    expect(parseBasicAuthorization(basic('legacy-app:s3cr%2Bt'))).toEqual({
      clientId: 'legacy-app',
      secret: 's3cr+t',
      method: 'basic',
    });
    expect(parseBasicAuthorization(basic('café:sécret'))).toMatchObject({
      clientId: 'café',
      secret: 'sécret',
    });
  });

  it('refuses malformed Basic values as failed authentication, and ignores other schemes', () => {
    const refused = (header: string): unknown => {
      try {
        return parseBasicAuthorization(header);
      } catch (error) {
        return error;
      }
    };
    expect(refused('Basic abcde')).toEqual(new InvalidClientError('The Basic credentials are not base64.'));
    expect(refused('Basic a b')).toEqual(new InvalidClientError('The Basic credentials are not base64.'));
    expect(refused('Basic')).toEqual(new InvalidClientError('The Basic credentials are missing.'));
    expect(refused(basic('no-separator'))).toBeInstanceOf(InvalidClientError);
    expect(refused(basic('no-separator'))).toHaveProperty('message', expect.stringContaining('no colon'));
    expect(refused(basic('a%zz:b'))).toEqual(
      new InvalidClientError('The Basic credentials are not form-urlencoded.'),
    );
    expect(refused(basic('a:b%'))).toBeInstanceOf(InvalidClientError);
    expect(parseBasicAuthorization('Bearer abc')).toBeUndefined();
    expect(parseBasicAuthorization('Basically')).toBeUndefined();
    expect(parseBasicAuthorization(null)).toBeUndefined();
  });
});

describe('Function: presentedSecrets', () => {
  it('reads the Basic secret and the identity header one, whatever else is wrong with the header, and none from a malformed Basic value', () => {
    // Act
    const both = presentedSecrets(`Basic ${btoa('app-1:basic-secret')}`, 'app-2:header-secret');
    const bareHeader = presentedSecrets(null, 'header-secret');
    const malformed = presentedSecrets('Basic not base64!', null);
    const none = presentedSecrets('Bearer abc', null);

    // Assess
    expect(both).toEqual(['basic-secret', 'header-secret']);
    expect(bareHeader).toEqual(['header-secret']);
    expect(malformed).toEqual([]);
    expect(none).toEqual([]);
  });
});

describe('Function: SecretHasher.sameSecret', () => {
  it('is true only for the same characters, whatever the position of a difference or the length', () => {
    const secret = SecretHasher.generateSecret();
    const other = (c: string | undefined): string => (c === 'A' ? 'B' : 'A');
    const last = secret.slice(0, -1) + other(secret.at(-1));
    const first = other(secret[0]) + secret.slice(1);
    expect(SecretHasher.sameSecret(secret, `${secret}`)).toBe(true);
    expect(SecretHasher.sameSecret(secret, last)).toBe(false);
    expect(SecretHasher.sameSecret(secret, first)).toBe(false);
    expect(SecretHasher.sameSecret(secret, secret.slice(1))).toBe(false);
    expect(SecretHasher.sameSecret('', '')).toBe(true);
  });
});

describe('Function: parseScope', () => {
  it.each([
    ['demo-token', { kind: 'endpoint', value: 'demo-token' }],
    ['demo-token/.default', { kind: 'endpoint', value: 'demo-token' }],
    ['abc', { kind: 'endpoint', value: 'abc' }],
    ['d'.repeat(63), { kind: 'endpoint', value: 'd'.repeat(63) }],
    ['https://ml.azure.com', { kind: 'resource', value: 'https://ml.azure.com' }],
    ['https://ml.azure.com/', { kind: 'resource', value: 'https://ml.azure.com' }],
    ['https://ML.azure.com/.default', { kind: 'resource', value: 'https://ml.azure.com' }],
  ])('parses %s', (raw, expected) => {
    expect(parseScope(raw)).toEqual(expected);
  });

  it.each([
    '',
    'http://ml.azure.com',
    'https://u:p@ml.azure.com',
    'https://x?y=1',
    'UPPER',
    'a b',
    'x'.repeat(600),
    // endpoint ids the endpoint registry refuses (validateEndpoint): too short, a hyphen at the end, two
    'ab',
    'demo-',
    'demo-/.default',
    'demo--token',
    'd'.repeat(64),
  ])('refuses %s', (raw) => {
    expect(parseScope(raw)).toBeUndefined();
  });
});

describe('Class: LruMap', () => {
  it('evicts the least recently used entry past the bound', () => {
    // Prepare
    const evicted: string[] = [];
    const map = new LruMap<string, number>(2, (k) => evicted.push(k));
    map.set('a', 1);
    map.set('b', 2);

    // Act
    map.get('a');
    map.set('c', 3);

    // Assess
    expect(evicted).toEqual(['b']);
    expect(map.size).toBe(2);
  });

  it('keeps recency right through repeated hits on the newest key, deletes and clears', () => {
    // Prepare
    const evicted: string[] = [];
    const map = new LruMap<string, number>(3, (k) => evicted.push(k));
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);

    // Act
    map.get('a');
    map.get('a');
    map.delete('a');
    map.set('d', 4);
    map.get('b');
    map.get('b');
    map.set('e', 5); // evicts c: b was used after it
    map.clear();
    map.set('f', 6);
    map.get('f');

    // Assess
    expect(evicted).toEqual(['c']);
    expect(map.size).toBe(1);
    expect(map.peek('f')).toBe(6);
  });
});

describe('Class: RateLimiter', () => {
  it('allows a burst of the per-minute limit, then refills continuously', () => {
    // Prepare
    const limiter = new RateLimiter();
    const now = 1_000_000;

    // Act
    const burst = Array.from({ length: 60 }, () => limiter.take('c', 60, now));
    const over = limiter.take('c', 60, now);
    const later = limiter.take('c', 60, now + 1000);

    // Assess
    expect(burst.every((r) => r === 0)).toBe(true);
    expect(over).toBe(1);
    expect(later).toBe(0);
  });

  it('never banks more than the per-minute limit, however long the client was idle', () => {
    // Prepare: one request, then an idle hour
    const limiter = new RateLimiter();
    const now = 1_000_000;
    limiter.take('c', 60, now);

    // Act
    const burst = Array.from({ length: 61 }, () => limiter.take('c', 60, now + 3_600_000));

    // Assess: the 61st request of that instant waits, as after any full minute
    expect(burst.filter((r) => r === 0)).toHaveLength(60);
    expect(burst.at(-1)).toBe(1);
  });
});

describe('Class: FailureBackoff', () => {
  const ids = Array.from({ length: 64 }, (_, i) => `client-${i}`);

  it('picks the same counter for an id in every instance given the same seed', () => {
    // Act
    const first = ids.map((id) => new FailureBackoff({ seed: 7 }).counterOf(id));
    const second = ids.map((id) => new FailureBackoff({ seed: 7 }).counterOf(id));

    // Assess
    expect(second).toEqual(first);
  });

  it('picks other counters under another seed, and a random seed by default', () => {
    // Act
    const seeded = (backoff: FailureBackoff) => ids.map((id) => backoff.counterOf(id));
    const [seven, eight] = [seeded(new FailureBackoff({ seed: 7 })), seeded(new FailureBackoff({ seed: 8 }))];
    const [a, b] = [seeded(new FailureBackoff()), seeded(new FailureBackoff())];

    // Assess: 64 ids on the same counters under two seeds would take a 1-in-2^1024 chance (or equal seeds)
    expect(eight).not.toEqual(seven);
    expect(b).not.toEqual(a);
  });
});
