import type {
  SecretStore,
  SecretVersion,
  SecretVersionInfo,
  SetSecretOptions,
} from '../../../shared/rotation/SecretStore';
import type { FakeClock } from '../FakeClock';
import { FaultPlan } from './FaultPlan';

/** Key Vault secrets in memory: versions in order, tags, enabled flag, expiry; crash and failure injection. */
export class InMemorySecretStore implements SecretStore {
  private readonly secrets = new Map<string, SecretVersion[]>();
  private counter = 0;
  private failure: Error | undefined;
  /** Every value ever written, for leak scans. */
  readonly writtenValues: string[] = [];
  /** The signal each call was handed, in call order. */
  readonly signals: Array<AbortSignal | undefined> = [];

  constructor(
    private readonly clock: FakeClock,
    readonly faults: FaultPlan = new FaultPlan(),
  ) {}

  /** The next call throws `error`. */
  failNext(error: Error): void {
    this.failure = error;
  }

  /** All versions of a secret, oldest first (with values). */
  versions(name: string): SecretVersion[] {
    return [...(this.secrets.get(name) ?? [])];
  }

  /** Writes a version as an operator would (no tags). */
  seed(name: string, value: string, tags: Record<string, string> = {}): void {
    this.append(name, value, { tags });
  }

  /** Changes a version's expiry, as an operator could. */
  setExpiry(name: string, version: string, expiresOn: Date): void {
    const list = this.secrets.get(name) ?? [];
    const index = list.findIndex((v) => v.version === version);
    const found = list[index];
    if (found) list[index] = { ...found, expiresOn };
  }

  async getCurrent(name: string, abortSignal?: AbortSignal): Promise<SecretVersion | undefined> {
    this.enter(abortSignal);
    const latest = this.secrets.get(name)?.at(-1);
    return latest && this.readable(latest);
  }

  async listVersions(name: string, abortSignal?: AbortSignal): Promise<SecretVersionInfo[]> {
    this.enter(abortSignal);
    return [...(this.secrets.get(name) ?? [])].reverse().map(infoOf);
  }

  async setVersion(
    name: string,
    value: string,
    options: SetSecretOptions,
    abortSignal?: AbortSignal,
  ): Promise<SecretVersionInfo> {
    this.enter(abortSignal);
    const info = infoOf(this.append(name, value, options));
    this.faults.mutated(`kv.set:${name}`);
    return info;
  }

  async disableVersion(name: string, version: string, abortSignal?: AbortSignal): Promise<void> {
    this.enter(abortSignal);
    const list = this.secrets.get(name) ?? [];
    const index = list.findIndex((v) => v.version === version);
    const found = list[index];
    if (found) list[index] = { ...found, enabled: false };
    this.faults.mutated(`kv.disable:${name}`);
  }

  private append(name: string, value: string, options: SetSecretOptions): SecretVersion {
    this.counter += 1;
    const version: SecretVersion = {
      name,
      version: `v${String(this.counter).padStart(4, '0')}`,
      value,
      tags: { ...options.tags },
      enabled: true,
      createdOn: new Date(this.clock.now()),
      ...(options.expiresOn ? { expiresOn: options.expiresOn } : {}),
    };
    this.secrets.set(name, [...(this.secrets.get(name) ?? []), version]);
    this.writtenValues.push(value);
    return version;
  }

  /** Key Vault refuses to return the value of a disabled version. */
  private readable(version: SecretVersion): SecretVersion {
    return version.enabled ? version : { ...version, value: '' };
  }

  /** As the SDK's pipeline does, a call handed a signal that has fired sends nothing and rejects (here with its reason). */
  private enter(abortSignal: AbortSignal | undefined): void {
    this.signals.push(abortSignal);
    if (abortSignal?.aborted) throw abortSignal.reason;
    this.faults.check();
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
  }
}

/** A version's properties without its value. */
function infoOf(version: SecretVersion): SecretVersionInfo {
  const info: { -readonly [K in keyof SecretVersion]?: SecretVersion[K] } = { ...version };
  delete info.value;
  return info as SecretVersionInfo;
}
