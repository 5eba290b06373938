// Event Grid: system topic on the vault → the app's /api/events webhook for the managed secrets
// (near expiry, expired, new version), dead letters to a storage container; on the optional custom topic for the
// KeyRotated/RotationFailed/DriftDetected CloudEvents: EventGrid Data Sender for the app (topic: eventGridTopic.bicep).
param location string
param baseName string
param keyVaultName string
@description('Function app hostname; the webhook is https://<host>/api/events?code=<key>.')
param functionAppHostName string
@secure()
@description('Function key for the events function (leave empty to create the subscription later, see docs/deployment.md).')
param eventsFunctionKey string = ''
@description('Names of the Key Vault secrets the app manages (exact subject filter, at most 25). Empty = all secrets.')
@maxLength(25)
param managedSecretNames array = []
param storageAccountId string
param deadLetterContainerName string
@description('Name of the custom topic from eventGridTopic.bicep; empty = none.')
param customTopicName string = ''
@description('Object id of the app identity (EventGrid Data Sender on the custom topic).')
param principalId string
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: '${baseName}-kv-events'
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

// Key Vault events carry the secret name as subject. The rotation writes `<secret>-pending` as well; its events
// mean nothing to the app, so they are filtered out here rather than delivered and acknowledged. With exact names
// the name filter already leaves them out (no managed secret name ends in -pending), and Event Grid allows 25
// filter values per subscription in all, so the -pending filter is used only without names.
var pendingFilter = {
  operatorType: 'StringNotEndsWith'
  key: 'subject'
  values: [
    '-pending'
  ]
}
// Exact names (StringIn takes at most 25 values); empty = every secret in the vault.
var namesFilter = {
  operatorType: 'StringIn'
  key: 'subject'
  values: managedSecretNames
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (!empty(eventsFunctionKey)) {
  parent: systemTopic
  name: 'managed-secrets'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${functionAppHostName}/api/events?code=${eventsFunctionKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
        'Microsoft.KeyVault.SecretNewVersionCreated'
      ]
      advancedFilters: empty(managedSecretNames) ? [pendingFilter] : [namesFilter]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    // Shared-key access is off on the account, so dead-lettering uses the system topic's identity.
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
  dependsOn: [
    topicDeadLetterRole
  ]
}

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: last(split(storageAccountId, '/'))
}

resource topicDeadLetterRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccountId, systemTopic.id, storageBlobDataContributor)
  scope: storageAccount
  properties: {
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

resource customTopic 'Microsoft.EventGrid/topics@2022-06-15' existing = {
  name: empty(customTopicName) ? 'unused' : customTopicName
}

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

// The app publishes with its managed identity when EVENT_GRID_TOPIC_KEY is empty.
resource senderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(customTopicName)) {
  name: guid(resourceGroup().id, baseName, principalId, eventGridDataSender)
  scope: customTopic
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
  }
}

output systemTopicName string = systemTopic.name
