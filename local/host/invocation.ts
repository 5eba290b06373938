import { randomUUID } from 'node:crypto';

import type { CoreInvocationContext, RpcInvocationResponse, RpcTypedData } from './coreApiTypes';
import type { FunctionRegistry, RegisteredFunction } from './registry';

/** What a trigger driver hands to {@link invokeFunction}. */
export interface InvocationInput {
  /** The trigger's payload in RPC form (`{ http }`, `{ json }`, `{ string }`). */
  readonly data: RpcTypedData;
  readonly triggerMetadata?: Record<string, RpcTypedData>;
  /** Why it ran, for the `Executing ...` line (as Core Tools prints). */
  readonly reason: string;
}

/** The `Reason` Core Tools prints for an invocation through the host: an HTTP request or the admin API. */
export const HOST_API_REASON = 'This function was programmatically called via the host APIs.';

/** Thrown when the handler (or a hook) failed; `cause` is the original error. */
export class FunctionInvocationError extends Error {
  constructor(functionName: string, options: ErrorOptions) {
    super(`Exception while executing function: Functions.${functionName}`, options);
    this.name = 'FunctionInvocationError';
  }
}

const isError = (e: unknown): boolean =>
  e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e);

/**
 * Runs one invocation through the app's own programming model exactly as the Node worker does
 * (azure-functions-nodejs-worker `InvocationHandler`): the library builds the real `HttpRequest` /
 * `InvocationContext` / timer object from RPC data, pre/post-invocation hooks run around the handler,
 * and the library converts the result (`HttpResponse` or `HttpResponseInit`) back to RPC form.
 * An invocation still running after `timeoutMs` (host.json `functionTimeout`) fails, as in the real host.
 * @returns the invocation response (`returnValue.http` for HTTP triggers)
 */
export async function invokeFunction(
  registry: FunctionRegistry,
  fn: RegisteredFunction,
  input: InvocationInput,
  log: (line: string) => void,
  timeoutMs?: number,
): Promise<RpcInvocationResponse> {
  const model = registry.programmingModel;
  if (!model) throw new Error('The app did not set a programming model (is it using @azure/functions v4?)');
  const invocationId = randomUUID();
  const name = fn.metadata.name;
  const stamp = (): string => `[${new Date().toISOString()}]`;
  const coreCtx: CoreInvocationContext = {
    invocationId,
    request: {
      invocationId,
      functionId: name,
      inputData: [{ name: fn.triggerName, data: input.data }],
      triggerMetadata: input.triggerMetadata ?? {},
    },
    metadata: fn.metadata,
    log: (level, category, message) => {
      if (category === 'user' || level === 'warning' || level === 'error') log(`${stamp()} ${message}`);
    },
  };
  const execute = async (): Promise<RpcInvocationResponse> => {
    const invocModel = model.getInvocationModel(coreCtx);
    const { context, inputs: initialInputs } = await invocModel.getArguments();
    const hookData: Record<string, unknown> = {};
    const pre: Record<string, unknown> = {
      hookData,
      appHookData: registry.appHookData,
      invocationContext: context,
      functionCallback: fn.callback,
      inputs: initialInputs,
    };
    coreCtx.state = 'preInvocationHooks';
    await registry.runHooks('preInvocation', pre);
    coreCtx.state = undefined;
    const inputs = pre['inputs'] as unknown[];
    const callback = pre['functionCallback'] as RegisteredFunction['callback'];
    const post: Record<string, unknown> = {
      hookData,
      appHookData: registry.appHookData,
      invocationContext: context,
      inputs,
      result: null,
      error: null,
    };
    coreCtx.state = 'invocation';
    try {
      post['result'] = await invocModel.invokeFunction(context, inputs, callback);
    } catch (error) {
      post['error'] = error;
    }
    coreCtx.state = 'postInvocationHooks';
    await registry.runHooks('postInvocation', post);
    coreCtx.state = undefined;
    if (isError(post['error'])) throw post['error'];
    return invocModel.getResponse(context, post['result']);
  };
  const started = Date.now();
  log(`${stamp()} Executing 'Functions.${name}' (Reason='${input.reason}', Id=${invocationId})`);
  let timer: NodeJS.Timeout | undefined;
  try {
    const work = execute();
    const response = await (timeoutMs === undefined || timeoutMs > MAX_TIMER_MS
      ? work
      : Promise.race([
          work,
          new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => {
              // The worker cannot stop a running handler; the real host then restarts the worker.
              void work.catch(() => undefined);
              log(
                `${stamp()} Timeout value of ${timeSpan(timeoutMs)} exceeded by function 'Functions.${name}' (Id: '${invocationId}'). Initiating cancellation.`,
              );
              reject(new FunctionTimeoutError(timeSpan(timeoutMs), name));
            }, timeoutMs);
          }),
        ]));
    log(
      `${stamp()} Executed 'Functions.${name}' (Succeeded, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
    );
    return response;
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(
      `${stamp()} Executed 'Functions.${name}' (Failed, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
    );
    log(
      `${stamp()} System.Private.CoreLib: Exception while executing function: Functions.${name}. ${detail}`,
    );
    throw new FunctionInvocationError(name, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** Longest `setTimeout` delay; a host.json `functionTimeout` beyond it is treated as no limit. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The host's `FunctionTimeoutException`: the invocation outlived host.json `functionTimeout`. */
class FunctionTimeoutError extends Error {
  constructor(span: string, functionName: string) {
    super(`Timeout value of ${span} was exceeded by function: Functions.${functionName}`);
    this.name = 'FunctionTimeoutError';
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** Milliseconds as a .NET TimeSpan (`[d.]hh:mm:ss[.fff]`), as the host prints `functionTimeout`. */
function timeSpan(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  const clock = new Date(ms % 86_400_000)
    .toISOString()
    .slice(11, 23)
    .replace(/\.000$/, '');
  return days > 0 ? `${days}.${clock}` : clock;
}
