import type { AzureMachineLearningWorkspaces } from '@azure/arm-machinelearning';
import type { HttpClient, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import type { TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { QueueClient } from '@azure/storage-queue';

import type { AppConfig } from './config';
import { armWriteGatePolicy } from './rotation/adapters/armWriteGatePolicy';
import { ArmWriteGate } from './rotation/ArmWriteGate';
import { sdk } from './sdk';
import { DEFAULT_TRY_TIME_LIMIT_MS, timeLimitedHttpClient } from './timeLimitedHttpClient';

/** The scope of a token for Azure Resource Manager (the ML management API and the v1 model management). */
export const ARM_SCOPE = 'https://management.azure.com/.default';

/** Options of {@link AzureClients}. */
export interface AzureClientsOptions {
  /**
   * Longest one try of a request waits for its answer, body included (see `timeLimitedHttpClient`).
   * @default 30000
   */
  tryTimeLimitMs?: number;
}

/**
 * Builds the Azure SDK clients the adapters wrap, each once per process (a client, and above all a
 * credential, per call would defeat connection reuse and token caching). Clients are created lazily
 * so that a function that never touches Key Vault never builds a Key Vault client, nor loads its SDK.
 */
export class AzureClients {
  private credentialInstance?: TokenCredential;
  private secretClientInstance?: SecretClient;
  private readonly mlClients = new Map<string, AzureMachineLearningWorkspaces>();
  private readonly tableClients = new Map<string, TableClient>();
  private readonly queueClients = new Map<string, QueueClient>();
  /**
   * One ARM write gate for every ML client of this process: ARM's write bucket is per subscription and
   * principal, so all writers of the process (rotation, broker token calls) must queue at the same gate.
   */
  private readonly armWrites = new ArmWriteGate();
  private mmsInstance?: { sendRequest(request: PipelineRequest): Promise<PipelineResponse> };
  private httpClientInstance?: HttpClient;
  /** Longest one try of a request waits for an answer (see {@link AzureClientsOptions}). */
  readonly tryTimeLimitMs: number;

  constructor(
    private readonly config: AppConfig,
    options: AzureClientsOptions = {},
  ) {
    this.tryTimeLimitMs = options.tryTimeLimitMs ?? DEFAULT_TRY_TIME_LIMIT_MS;
  }

  /**
   * The transport every client here shares: one connection pool per host, and a time limit on each try,
   * since the SDKs set none (`timeLimitedHttpClient`).
   */
  get httpClient(): HttpClient {
    this.httpClientInstance ??= timeLimitedHttpClient(
      sdk.corePipeline().createDefaultHttpClient(),
      this.tryTimeLimitMs,
    );
    return this.httpClientInstance;
  }

  /**
   * The app's identity. `DefaultAzureCredential` resolves to the managed identity in Azure (and in the
   * local stack, whose stand-in speaks the App Service protocol), and to a developer's Azure CLI login
   * under `func start`. With `AZURE_TOKEN_CREDENTIALS` naming one credential (the local stack names the
   * managed identity) the SDK drops these options, the shared transport among them; `AZURE_CLIENT_ID`
   * it reads itself.
   */
  get credential(): TokenCredential {
    this.credentialInstance ??= new (sdk.identity().DefaultAzureCredential)({
      httpClient: this.httpClient,
      ...(this.config.identity.clientId ? { managedIdentityClientId: this.config.identity.clientId } : {}),
    });
    return this.credentialInstance;
  }

  /** The Key Vault secrets client. */
  get secrets(): SecretClient {
    this.secretClientInstance ??= new (sdk.keyVaultSecrets().SecretClient)(
      this.config.keyVault.url,
      this.credential,
      {
        httpClient: this.httpClient,
        disableChallengeResourceVerification: this.config.keyVault.disableChallengeResourceVerification,
      },
    );
    return this.secretClientInstance;
  }

  /** The Azure ML management client for one subscription (the SDK binds a client to a subscription). */
  machineLearning(subscriptionId: string): AzureMachineLearningWorkspaces {
    let client = this.mlClients.get(subscriptionId);
    if (!client) {
      const endpoint = this.config.arm.endpoint;
      client = new (sdk.armMachineLearning().AzureMachineLearningWorkspaces)(
        this.credential,
        subscriptionId,
        {
          endpoint,
          $host: endpoint,
          apiVersion: this.config.arm.mlApiVersion,
          credentialScopes: [ARM_SCOPE],
          httpClient: this.httpClient,
          additionalPolicies: [{ policy: armWriteGatePolicy(this.armWrites), position: 'perRetry' }],
        },
      );
      this.mlClients.set(subscriptionId, client);
    }
    return client;
  }

  /**
   * The pipeline for the Azure ML SDK v1 model-management API (v1 web services): the app's credential
   * with an ARM-audience bearer token, on whatever regional host the request names. Retries are left to
   * the callers (rotation retries with backoff; the broker's cache rests after a failure instead).
   */
  get modelManagement(): { sendRequest(request: PipelineRequest): Promise<PipelineResponse> } {
    if (!this.mmsInstance) {
      const { bearerTokenAuthenticationPolicy, createPipelineFromOptions } = sdk.corePipeline();
      const pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 0 } });
      pipeline.addPolicy(
        bearerTokenAuthenticationPolicy({
          credential: this.credential,
          scopes: ARM_SCOPE,
        }),
      );
      const httpClient = this.httpClient;
      this.mmsInstance = { sendRequest: (request) => pipeline.sendRequest(httpClient, request) };
    }
    return this.mmsInstance;
  }

  /** A Table storage client for one table. */
  table(tableName: string): TableClient {
    return cachedByName(this.tableClients, tableName, () => {
      const { TableClient } = sdk.tables();
      const storage = this.config.storage;
      if (storage.kind === 'connectionString') {
        return TableClient.fromConnectionString(storage.connectionString, tableName, {
          httpClient: this.httpClient,
          allowInsecureConnection: isPlainHttpStorage(storage.connectionString),
        });
      }
      return new TableClient(storageServiceUrl(storage.accountName, 'table'), tableName, this.credential, {
        httpClient: this.httpClient,
      });
    });
  }

  /**
   * A Storage queue client for one queue. Its SDK keeps a transport of its own, so the shared one's time
   * limit does not reach it: callers pass {@link tryTimeLimitMs} per call (`StorageJsonQueue`).
   */
  queue(queueName: string): QueueClient {
    return cachedByName(this.queueClients, queueName, () => {
      const { QueueClient } = sdk.storageQueue();
      const storage = this.config.storage;
      if (storage.kind === 'connectionString') return new QueueClient(storage.connectionString, queueName);
      return new QueueClient(
        `${storageServiceUrl(storage.accountName, 'queue')}/${queueName}`,
        this.credential,
      );
    });
  }
}

/** The client `clients` holds under `name`, created (once) by `create` when missing. */
function cachedByName<T>(clients: Map<string, T>, name: string, create: () => T): T {
  let client = clients.get(name);
  if (!client) {
    client = create();
    clients.set(name, client);
  }
  return client;
}

/** The public-cloud endpoint of one storage service of an account reached with the app's identity. */
function storageServiceUrl(accountName: string, service: 'table' | 'queue'): string {
  return `https://${accountName}.${service}.core.windows.net`;
}

/**
 * Whether a connection string points at plain-HTTP storage (Azurite in the local stack), to which the
 * Tables SDK sends some requests (transactions) only when told it may (`allowInsecureConnection`).
 */
function isPlainHttpStorage(connectionString: string): boolean {
  return /TableEndpoint=http:|DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true/i.test(
    connectionString,
  );
}
