import NodeModule from 'node:module';

import type { CoreApi, Disposable, ProgrammingModel } from './coreApiTypes';
import type { FunctionRegistry } from './registry';

/**
 * Supplies the module `@azure/functions-core` the way the real Node worker does (it proxies
 * `Module.prototype.require`): without it `@azure/functions` drops every registration ("test mode").
 * One process-wide shim (kept on Node's `Module` class, so copies of this file loaded by different module
 * registries share it) forwards registrations to the registry that is currently loading an app.
 */
interface ShimState {
  active: FunctionRegistry | undefined;
  lastModel: ProgrammingModel | undefined;
  coreApi: CoreApi;
}

const STATE_KEY = Symbol.for('aml-credential-broker.local-host.core-api');
type RequireFn = (this: unknown, id: string) => unknown;
type ModuleClass = {
  prototype: { require: RequireFn };
  createRequire(path: string): NodeRequire;
  _cache?: Record<string, unknown>;
};

/**
 * Node's own CommonJS `Module` class. A sandboxing loader (Jest) hands out a subclass of it whose
 * `createRequire` stays inside the sandbox; the app must load through the real one, like in the worker.
 */
function nativeModule(): ModuleClass {
  let current: unknown = NodeModule;
  for (;;) {
    const parent: unknown = Object.getPrototypeOf(current);
    if (typeof parent !== 'function' || !('_load' in parent) || !('_resolveFilename' in parent)) break;
    current = parent;
  }
  return current as ModuleClass;
}

class LocalDisposable implements Disposable {
  constructor(private readonly onDispose: () => void) {}
  dispose(): void {
    this.onDispose();
  }
}

function shimState(): ShimState {
  // Kept on Node's real Module class, not globalThis: a test runner gives each test file its own
  // globalThis, while @azure/functions (loaded once through the real loader) keeps the first coreApi.
  const holder = nativeModule() as unknown as Record<symbol, ShimState | undefined>;
  const existing = holder[STATE_KEY];
  if (existing) return existing;
  const state: ShimState = {
    active: undefined,
    lastModel: undefined,
    coreApi: undefined as unknown as CoreApi,
  };
  const current = (): FunctionRegistry => {
    if (!state.active) throw new Error('@azure/functions-core: no local host is loading an app');
    return state.active;
  };
  state.coreApi = {
    version: '4.0.0-local',
    hostVersion: '4.1000.0',
    registerFunction: (metadata, callback) => new LocalDisposable(current().register(metadata, callback)),
    registerHook: (name, callback) => new LocalDisposable(current().registerHook(name, callback)),
    setProgrammingModel: (model) => {
      state.lastModel = model;
      if (state.active) state.active.programmingModel = model;
    },
    getProgrammingModel: () => state.active?.programmingModel ?? state.lastModel,
    log: () => undefined,
    Disposable: LocalDisposable,
  };
  const Module = nativeModule();
  const original = Module.prototype.require;
  Module.prototype.require = function (this: unknown, id: string): unknown {
    return id === '@azure/functions-core' ? state.coreApi : original.call(this, id);
  };
  holder[STATE_KEY] = state;
  return state;
}

/**
 * Loads the app's entry point files into `registry` with Node's real loader (fresh copies: cached
 * entry points are evicted first, so each host instance sees every registration).
 * @param entryPoints - absolute paths of CommonJS `.js` files
 */
export function loadEntryPoints(entryPoints: readonly string[], registry: FunctionRegistry): void {
  const state = shimState();
  const Module = nativeModule();
  state.active = registry;
  try {
    for (const file of entryPoints) {
      const load = Module.createRequire(file);
      const resolved = load.resolve(file);
      delete load.cache[resolved];
      load(resolved);
    }
    // The library sets its programming model once per process; later app loads reuse it.
    registry.programmingModel ??= state.lastModel;
  } finally {
    state.active = undefined;
  }
}

/** Makes `registry` receive late registrations (e.g. hooks registered inside appStart). */
export function activateRegistry(registry: FunctionRegistry | undefined): void {
  shimState().active = registry;
}

/**
 * The environment the loaded app reads (`process.env` of Node's real loader, which a sandboxing test
 * runner may hide behind a copy). App settings are applied here, as the worker gets them as its env.
 */
export function appEnvironment(): NodeJS.ProcessEnv {
  const load = nativeModule().createRequire(__filename);
  return (load('node:process') as NodeJS.Process).env;
}
