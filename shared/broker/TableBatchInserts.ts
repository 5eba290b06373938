import { randomUUID } from 'node:crypto';

import type { HttpClient } from '@azure/core-rest-pipeline';
import type { TableClient } from '@azure/data-tables';

import { sdk } from '../sdk';
import type { AuditRow } from './auditRows';
import type { AuditTable } from './TableAuditLog';

const CRLF = '\r\n';

/**
 * TableClient policies with no effect here: the body is already text (serialization, form data,
 * multipart), the answer is read as text (deserialization, decompression: Table storage does not
 * compress), and a batch every second is not worth a span or a log line of its own (tracing, log;
 * failures are logged by the audit log). Authentication, retries, redirects, proxy, user agent and
 * request ids stay.
 */
const IDLE_POLICIES = new Set([
  'serializationPolicy',
  'deserializationPolicy',
  'formDataPolicy',
  'multipartPolicy',
  'decompressResponsePolicy',
  'tracingPolicy',
  'logPolicy',
]);

/** The part of `TableClient` used here (structural, so the adapter can be tested against Azurite). */
export type BatchTableClient = Pick<TableClient, 'url' | 'tableName' | 'pipeline' | 'createTable'>;

/**
 * An {@link AuditTable} that sends up to 100 inserts as one Table `$batch` request (an OData
 * multipart changeset, the format the SDK's `submitTransaction` sends) built here, through the
 * `TableClient`'s own pipeline, so authentication, retries and headers stay the SDK's. Why: the SDK
 * runs every operation of a transaction through its whole request pipeline (serialisation, tracing,
 * URL templating), so that writing an audit row would cost more host CPU than serving the token it
 * records (`npm run bench -- http`, host CPU per vend 1.5× the empty function's); audit rows hold
 * only strings and small integers (typed Edm.String and Edm.Int32 without annotations in the JSON
 * format), so building the changeset is plain text. For the same reason the request skips the
 * policies that do nothing for a prebuilt text body read back as text ({@link IDLE_POLICIES}): about
 * 0.4 ms of host CPU per batch, measured against Azurite.
 */
export class TableBatchInserts implements AuditTable {
  private pipeline: BatchTableClient['pipeline'] | undefined;

  /**
   * @param httpClient - the transport the `TableClient` was built with (its pipeline does not hold
   *   it), so batches share its connections and its time limit
   */
  constructor(
    private readonly client: BatchTableClient,
    private readonly httpClient: HttpClient,
  ) {}

  /** @param options.abortSignal - ends the creation's request when it fires (past its time limit) */
  createTable(options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    return this.client.createTable(options);
  }

  /**
   * Inserts every row in one atomic batch (all rows must share a partition, at most 100).
   * @param abortSignal - ends the request (and the pipeline's retries of it) when it fires
   * @throws RestError when the batch or one of its inserts is refused (e.g. 409 for a duplicate row)
   */
  async submitTransaction(actions: Array<['create', AuditRow]>, abortSignal?: AbortSignal): Promise<void> {
    const { createHttpHeaders, createPipelineRequest, RestError } = sdk.corePipeline();
    const [base, sas] = this.client.url.replace(/\/+$/, '').split('?');
    const tableUrl = `${base}/${this.client.tableName}`;
    const batch = `batch_${randomUUID()}`;
    const changeset = `changeset_${randomUUID()}`;
    const lines = [`--${batch}`, `Content-Type: multipart/mixed; boundary=${changeset}`, ''];
    for (const [, row] of actions) {
      const { partitionKey, rowKey, ...properties } = row;
      lines.push(
        `--${changeset}`,
        'Content-Type: application/http',
        'Content-Transfer-Encoding: binary',
        '',
        `POST ${tableUrl} HTTP/1.1`,
        'Content-Type: application/json',
        'Accept: application/json;odata=minimalmetadata',
        'Prefer: return-no-content',
        'DataServiceVersion: 3.0;',
        '',
        JSON.stringify({ PartitionKey: partitionKey, RowKey: rowKey, ...properties }),
      );
    }
    lines.push(`--${changeset}--`, `--${batch}--`, '');
    const request = createPipelineRequest({
      url: `${base}/$batch${sas ? `?${sas}` : ''}`,
      method: 'POST',
      body: lines.join(CRLF),
      headers: createHttpHeaders({
        accept: 'application/json',
        'x-ms-version': '2019-02-02',
        DataServiceVersion: '3.0;',
        MaxDataServiceVersion: '3.0;NetFx',
        'Content-Type': `multipart/mixed; boundary=${batch}`,
      }),
      allowInsecureConnection: base?.startsWith('http:') ?? false,
      abortSignal,
    });
    this.pipeline ??= this.leanPipeline();
    const response = await this.pipeline.sendRequest(this.httpClient, request);
    const body = response.bodyAsText ?? '';
    // A refused insert fails the whole changeset: one sub-response carries its status and error.
    const failed = /HTTP\/1\.1 ([3-5]\d\d)/.exec(body);
    const refused = failed ? Number(failed[1]) : undefined;
    if (response.status >= 300 || refused !== undefined) {
      const code = /"code"\s*:\s*"([^"]+)"/.exec(body)?.[1];
      throw new RestError(`Table batch refused (${refused ?? response.status}${code ? ` ${code}` : ''})`, {
        statusCode: refused ?? response.status,
        ...(code ? { code } : {}),
      });
    }
  }

  /** The client's own pipeline minus {@link IDLE_POLICIES}, in the same order. */
  private leanPipeline(): BatchTableClient['pipeline'] {
    const lean = sdk.corePipeline().createEmptyPipeline();
    for (const policy of this.client.pipeline.getOrderedPolicies())
      if (!IDLE_POLICIES.has(policy.name)) lean.addPolicy(policy);
    return lean;
  }
}
