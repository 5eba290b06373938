/**
 * Minimal local declarations of the `@azure/functions-core` API (not published on npm; see
 * Azure/azure-functions-nodejs-library `types-core/index.d.ts`). Only what the local host uses.
 */

/** One binding as `toCoreFunctionMetadata` hands it over. */
export interface RpcBindingInfo {
  readonly type?: string;
  readonly direction?: 'in' | 'out' | 'inout';
  readonly [key: string]: unknown;
}

/** What `app.http/timer/storageQueue(...)` registers. */
export interface FunctionMetadata {
  readonly name: string;
  readonly bindings: Record<string, RpcBindingInfo>;
  readonly retryOptions?: unknown;
}

/** The user's handler as registered. */
export type FunctionCallback = (...args: unknown[]) => unknown;

/** The RPC "typed data" union, the parts the local host produces or reads. */
export interface RpcTypedData {
  string?: string;
  json?: string;
  bytes?: Uint8Array;
  int?: number;
  double?: number;
  http?: RpcHttpData;
}

/** HTTP request/response in RPC form. */
export interface RpcHttpData {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  params?: Record<string, string>;
  body?: RpcTypedData | null;
  statusCode?: string;
}

/** The invocation request the host sends the worker. */
export interface RpcInvocationRequest {
  invocationId: string;
  functionId: string;
  inputData: Array<{ name: string; data: RpcTypedData }>;
  triggerMetadata: Record<string, RpcTypedData>;
}

/** The library's answer after an invocation. */
export interface RpcInvocationResponse {
  returnValue?: RpcTypedData | null;
}

/** Per-invocation context the worker gives the programming model. */
export interface CoreInvocationContext {
  invocationId: string;
  request: RpcInvocationRequest;
  metadata: FunctionMetadata;
  state?: 'preInvocationHooks' | 'postInvocationHooks' | 'invocation';
  log(level: string, category: string, message: string): void;
}

/** `@azure/functions`' InvocationModel: builds HttpRequest/InvocationContext and converts results. */
export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], handler: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

/** `@azure/functions`' ProgrammingModel, set through `setProgrammingModel`. */
export interface ProgrammingModel {
  readonly name: string;
  readonly version: string;
  getInvocationModel(coreCtx: CoreInvocationContext): InvocationModel;
}

/** Disposable registration. */
export interface Disposable {
  dispose(): void;
}

/** A hook callback; the library wraps its context object. */
export type HookCallback = (context: Record<string, unknown>) => unknown;

/** The module object `require('@azure/functions-core')` must return. */
export interface CoreApi {
  readonly version: string;
  readonly hostVersion: string;
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable;
  registerHook(hookName: string, callback: HookCallback): Disposable;
  setProgrammingModel(model: ProgrammingModel): void;
  getProgrammingModel(): ProgrammingModel | undefined;
  log(level: string, category: string, message: string): void;
  readonly Disposable: new (callOnDispose: () => void) => Disposable;
}
