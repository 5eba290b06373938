/* eslint-disable @typescript-eslint/no-require-imports -- loading the SDK packages on first use is this file's purpose */
import type * as ArmMachineLearning from '@azure/arm-machinelearning';
import type * as CoreRestPipeline from '@azure/core-rest-pipeline';
import type * as DataTables from '@azure/data-tables';
import type * as EventGrid from '@azure/eventgrid';
import type * as Identity from '@azure/identity';
import type * as KeyVaultSecrets from '@azure/keyvault-secrets';
import type * as StorageQueue from '@azure/storage-queue';

function once<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}

/**
 * The Azure SDK packages, each loaded on first use. Importing all of them takes about a second of CPU
 * (measured by `npm run bench -- cold`: some 85 % of the function app's import time), while the app's
 * cold-start budget is 300 ms of import and a token request needs only identity, ARM and Tables. So
 * code in `shared/` imports SDK *types* only (`import type`) and takes values from here.
 * @example const { TableClient } = sdk.tables();
 */
export const sdk = {
  armMachineLearning: once(() => require('@azure/arm-machinelearning') as typeof ArmMachineLearning),
  corePipeline: once(() => require('@azure/core-rest-pipeline') as typeof CoreRestPipeline),
  eventGrid: once(() => require('@azure/eventgrid') as typeof EventGrid),
  identity: once(() => require('@azure/identity') as typeof Identity),
  keyVaultSecrets: once(() => require('@azure/keyvault-secrets') as typeof KeyVaultSecrets),
  storageQueue: once(() => require('@azure/storage-queue') as typeof StorageQueue),
  tables: once(() => require('@azure/data-tables') as typeof DataTables),
} as const;
