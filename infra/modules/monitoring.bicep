// Log Analytics + workspace-based Application Insights + scheduled query alerts on the app's telemetry.
param location string
param baseName string
@description('Resource id of an existing action group to notify; empty = alerts fire without notification.')
param actionGroupId string = ''
@description('Daily ingestion cap of the Log Analytics workspace in GB (-1 = no cap): main.bicep logsDailyCapGb.')
@minValue(-1)
param dailyCapGb int
param tags object = {}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${baseName}-logs'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    // A safety net against a runaway (a flood of requests, each one a billed row), not a way to save: at the
    // cap ingestion stops until the workspace's daily reset, and every alert below goes blind with it but
    // daily-cap-reached. Application Insights' own cap applies as well (the lower wins); it is left as created.
    workspaceCapping: {
      dailyQuotaGb: dailyCapGb
    }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${baseName}-ai'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: false
  }
}

// Event and metric names are the ones shared/ emits (test/unit/infra.alerts.test.ts checks them against the code);
// request names are the function names of the three token routes. An alert with onWorkspace queries the Log
// Analytics workspace itself, the others Application Insights.
var alerts = [
  {
    name: 'rotation-failed'
    severity: 1
    description: 'A key rotation failed (customEvents RotationFailed; customDimensions.step and .code say where and why).'
    query: 'customEvents | where name == "RotationFailed"'
  }
  {
    name: 'drift-detected'
    severity: 2
    description: 'Key Vault and the endpoint disagree about the current key (customEvents DriftDetected).'
    query: 'customEvents | where name == "DriftDetected"'
  }
  {
    name: 'broker-5xx-rate'
    severity: 2
    description: 'More than 5% of broker token requests (at least 20 in the window) answered 5xx.'
    query: 'requests | where name in ("oauthToken", "msiToken", "endpointToken") | summarize total = sum(itemCount), failed = sumif(itemCount, toint(resultCode) >= 500) | where total >= 20 and failed * 100.0 / total > 5'
  }
  {
    name: 'upstream-failures'
    severity: 2
    description: 'More than 10 failed upstream token fetches (broker) or failed dependency calls (ARM, Key Vault, storage, managed identity) per target.'
    query: 'union (customMetrics | where name == "BrokerUpstreamLatencyMs" and tostring(customDimensions.outcome) != "success" | project target = tostring(customDimensions.upstream), n = valueCount), (dependencies | where success == false | project target, n = itemCount) | summarize failed = sum(n) by target | where failed > 10'
  }
  {
    name: 'events-lost'
    severity: 3
    description: 'A KeyRotated/RotationFailed/DriftDetected CloudEvent could not be published for a day and was given up (customMetrics EventsPublishLost; the EventPublisher log line names the event).'
    query: 'customMetrics | where name == "EventsPublishLost"'
  }
  {
    name: 'audit-lost'
    severity: 3
    description: 'Broker decisions missed the audit table (customMetrics AuditDecisionsLost; customDimensions.why says why; AuditRowsLost events sum up each loss: decisions by outcome, their time range and the storage error, if any).'
    query: 'customMetrics | where name == "AuditDecisionsLost"'
  }
  {
    name: 'daily-cap-reached'
    severity: 2
    description: 'The Log Analytics workspace reached its daily cap (parameter logsDailyCapGb): telemetry, and every other alert with it, stops until the daily reset. The workspace still writes the _LogOperation row that fires this one.'
    query: '_LogOperation | where Category =~ "Ingestion" | where Detail contains "OverQuota"'
    onWorkspace: true
  }
]

resource rules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [
  for alert in alerts: {
    name: '${baseName}-${alert.name}'
    location: location
    tags: tags
    properties: {
      displayName: '${baseName} ${alert.name}'
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        contains(alert, 'onWorkspace') ? logs.id : insights.id
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: empty(actionGroupId) ? [] : [actionGroupId]
      }
    }
  }
]

output connectionString string = insights.properties.ConnectionString
output appInsightsId string = insights.id
output logAnalyticsId string = logs.id
