import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { LocalCertificate } from '../../local/certs';

/** Built by `pretest`; run as plain JavaScript, since it loads `selfsigned` with a dynamic import. */
const certsJs = join(__dirname, '..', '..', 'dist', 'local', 'certs.js');

function ensureLocalCertificate(dir: string): LocalCertificate {
  const code = `require(${JSON.stringify(certsJs)}).ensureLocalCertificate(${JSON.stringify(dir)}).then((c) => console.log(JSON.stringify(c)))`;
  return JSON.parse(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' })) as LocalCertificate;
}

const matches = (pems: { cert: string; key: string }): boolean =>
  new X509Certificate(pems.cert).checkPrivateKey(createPrivateKey(pems.key));

describe('Function: ensureLocalCertificate', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'local-certs-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reuses the certificate of an earlier run', () => {
    // Prepare
    const first = ensureLocalCertificate(dir);

    // Act
    const second = ensureLocalCertificate(dir);

    // Assess
    expect(second.cert).toBe(first.cert);
    expect(matches(second)).toBe(true);
  });

  it.each([
    ['unreadable', () => 'garbage\n'],
    [
      'of another key pair',
      () =>
        generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
          type: 'pkcs8',
          format: 'pem',
        }),
    ],
  ])('makes a new pair when the key left in .local/ is %s', (_case, staleKey) => {
    // Prepare: a run stopped between writing the certificate and its key, or a key edited by hand
    const first = ensureLocalCertificate(dir);
    writeFileSync(first.keyPath, staleKey());

    // Act
    const second = ensureLocalCertificate(dir);

    // Assess
    expect(second.cert).not.toBe(first.cert);
    expect(matches(second)).toBe(true);
  });
});
