import { redactTableKeys } from '../../shared/tableKeyRedactor';

describe('Function: redactTableKeys', () => {
  it('drops the keys of a Table entity address and keeps the table, the query and other URLs', () => {
    // Act + Assess
    expect(
      redactTableKeys(
        "https://acct.table.core.windows.net/amlcbBrokerClients(PartitionKey='client',RowKey='q7Vb0c-x_Y')?x=1",
      ),
    ).toBe('https://acct.table.core.windows.net/amlcbBrokerClients(redacted)?x=1');
    expect(redactTableKeys("/devstoreaccount1/t(PartitionKey='a',RowKey='b')")).toBe(
      '/devstoreaccount1/t(redacted)',
    );
    expect(redactTableKeys('https://vault.azure.net/secrets/name/?api-version=7.5')).toBe(
      'https://vault.azure.net/secrets/name/?api-version=7.5',
    );
  });
});
