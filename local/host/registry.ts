import type {
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  ProgrammingModel,
  RpcBindingInfo,
} from './coreApiTypes';

/** A function as registered by the app. */
export interface RegisteredFunction {
  readonly metadata: FunctionMetadata;
  readonly callback: FunctionCallback;
  /** The trigger binding's name (the RPC input name) and its settings. */
  readonly triggerName: string;
  readonly trigger: RpcBindingInfo;
}

/** The trigger's type in lower case (`httptrigger`, `timertrigger`, ...), as the host matches it. */
export function triggerKind(fn: RegisteredFunction): string {
  return String(fn.trigger.type).toLowerCase();
}

/** A binding property as text (the library passes strings; anything else is treated as unset). */
export function bindingText(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** What the host prints and `functions()` returns for each function. */
export interface FunctionSummary {
  readonly name: string;
  readonly trigger: string;
  readonly route?: string;
  readonly methods?: string[];
  readonly authLevel?: string;
  readonly schedule?: string;
  readonly queueName?: string;
}

/** Collects registrations and hooks from one app load (one per host instance). */
export class FunctionRegistry {
  readonly functions = new Map<string, RegisteredFunction>();
  readonly hooks = new Map<string, HookCallback[]>();
  programmingModel: ProgrammingModel | undefined;
  readonly appHookData: Record<string, unknown> = {};
  /** `hookData` of the appStart and appTerminate hooks: one object for both, as in the Node worker. */
  readonly appLevelOnlyHookData: Record<string, unknown> = {};

  /** Records a function; a second registration with the same name replaces the first (like the worker). */
  register(metadata: FunctionMetadata, callback: FunctionCallback): () => void {
    const entry = Object.entries(metadata.bindings).find(([, b]) => /trigger$/i.test(String(b.type ?? '')));
    if (!entry) throw new Error(`Function "${metadata.name}" has no trigger binding`);
    this.functions.set(metadata.name, { metadata, callback, triggerName: entry[0], trigger: entry[1] });
    return () => this.functions.delete(metadata.name);
  }

  /** Records a hook callback (appStart, appTerminate, preInvocation, postInvocation). */
  registerHook(name: string, callback: HookCallback): () => void {
    const list = this.hooks.get(name) ?? [];
    list.push(callback);
    this.hooks.set(name, list);
    return () => {
      const i = list.indexOf(callback);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Runs every hook of one kind in registration order. */
  async runHooks(name: string, context: Record<string, unknown>): Promise<void> {
    for (const hook of [...(this.hooks.get(name) ?? [])]) await hook(context);
  }

  /** Function list for banners and `GET /`. */
  summaries(): FunctionSummary[] {
    return [...this.functions.values()].map((fn) => {
      const { metadata, trigger } = fn;
      const str = (k: string): string | undefined =>
        typeof trigger[k] === 'string' ? trigger[k] : undefined;
      const methods = Array.isArray(trigger['methods']) ? trigger['methods'].map(String) : undefined;
      return {
        name: metadata.name,
        trigger: String(trigger.type),
        ...(triggerKind(fn) === 'httptrigger'
          ? {
              route: str('route') ?? metadata.name,
              methods: methods ?? ['GET', 'POST'],
              authLevel: str('authLevel') ?? 'anonymous',
            }
          : {}),
        ...(str('schedule') !== undefined ? { schedule: str('schedule') } : {}),
        ...(str('queueName') !== undefined ? { queueName: str('queueName') } : {}),
      };
    });
  }
}
