// Application Insights workbook "<baseName> operations": the dashboard queries of docs/operations.md, from
// infra/workbook.json (test/unit/infra.alerts.test.ts checks its queries name what the code emits).
param location string
param baseName string
@description('Resource id of the Application Insights component the queries run against.')
param appInsightsId string
param tags object = {}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, baseName, 'operations-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: '${baseName} operations'
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('../workbook.json')
  }
}

output id string = workbook.id
