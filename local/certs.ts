import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of the local TLS material. */
export interface LocalCertificate {
  /** PEM certificate; also the trust anchor given to clients through `NODE_EXTRA_CA_CERTS`. */
  certPath: string;
  /** PEM private key of the certificate. */
  keyPath: string;
  cert: string;
  key: string;
}

const VALID_DAYS = 30;

/**
 * Returns the self-signed certificate (SAN `localhost`, `127.0.0.1`) that the local stand-ins serve,
 * generating it under `dir` when missing, close to expiry or not matching its key. The Azure SDKs refuse
 * bearer tokens over plain HTTP, so the stand-ins must be HTTPS; Node trusts this certificate only through
 * `NODE_EXTRA_CA_CERTS`, which it reads at process start, so callers generate it before spawning.
 */
export async function ensureLocalCertificate(dir: string): Promise<LocalCertificate> {
  const certPath = join(dir, 'local-ca.pem');
  const keyPath = join(dir, 'local-ca-key.pem');
  if (existsSync(certPath) && existsSync(keyPath) && reusable(certPath, keyPath)) {
    return { certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
  }
  mkdirSync(dir, { recursive: true });
  // Loaded lazily: selfsigned is a development dependency used only by the local stack.
  const selfsigned = (await import('selfsigned')) as unknown as {
    generate(attrs: unknown, options: unknown): Promise<{ cert: string; private: string }>;
  };
  const notBeforeDate = new Date(Date.now() - 60_000);
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + VALID_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  writeFileSync(certPath, pems.cert);
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  return { certPath, keyPath, cert: pems.cert, key: pems.private };
}

/**
 * Whether an earlier run's pair can serve again: not close to expiry, and the key is the certificate's
 * (a run stopped between the two writes, or an edited file, would otherwise stop every later start
 * with an OpenSSL message such as "key values mismatch").
 */
function reusable(certPath: string, keyPath: string): boolean {
  try {
    const cert = new X509Certificate(readFileSync(certPath));
    if (new Date(cert.validTo).getTime() - Date.now() < 2 * 86_400_000) return false;
    return cert.checkPrivateKey(createPrivateKey(readFileSync(keyPath)));
  } catch {
    return false;
  }
}
