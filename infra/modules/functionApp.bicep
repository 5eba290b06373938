// Function app on the Flex Consumption plan (FC1), Node 22, system-assigned identity (+ optional user-assigned).
// App settings: every setting in shared/config.ts SETTINGS that applies in Azure (test/unit/infra.test.ts checks).
param location string
param appName string
param planName string
param storageAccountName string
param deploymentContainerName string
param keyVaultUrl string
@description('Secret URI (without version) of the broker pepper in Key Vault.')
param pepperSecretUri string
@description('Secret URI of the Event Grid custom topic key; empty = publish with the managed identity.')
param eventGridTopicKeySecretUri string = ''
param eventGridTopicEndpoint string = ''
param appInsightsConnectionString string
@description('Resource id of a user-assigned identity; empty = the system-assigned identity does everything.')
param userAssignedIdentityId string = ''
@description('Client id of that identity: the code (AZURE_CLIENT_ID) and the host storage connection use it.')
param userAssignedIdentityClientId string = ''
param mlApiVersion string = '2025-12-01'
@description('Host of the Azure ML SDK v1 model-management API; {region} is the web service\'s region (docs/v1-web-services.md).')
param v1MmsHostTemplate string = 'https://{region}.api.azureml.ms'
param tablePrefix string = 'amlcb'
param rotationSchedule string = '0 */15 * * * *'
// At most 56 characters: the host moves a failing message to '<queue>-poison', itself at most 63 (the app refuses longer names at start).
@minLength(3)
@maxLength(56)
param rotationQueue string = 'rotation-jobs'
@minLength(3)
@maxLength(56)
param eventsRetryQueue string = 'event-publish-retries'
param rotationPeriodHours string = '720'
param rotationGraceHours string = '25'
param rotationMinGraceHours string = '24'
param rotationLeaseSeconds string = '600'
param rotationTestTimeoutSeconds string = '300'
param endpointsFile string = ''
param brokerMinTokenLifetimeSeconds string = '300'
param brokerRefreshFraction string = '0.5'
param brokerCacheMaxEntries string = '1000'
param brokerDefaultRateLimitPerMinute string = '600'
param brokerClientColdReadsPerSecond string = '20'
param autoRegisterEnabled bool = false
param autoRegisterTag string = 'aml-credential-broker=rotate'
@description('URL callers use for the app\'s /api routes when API Management or Front Door fronts it; empty: the app\'s own host.')
param adminPublicBaseUrl string = ''
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048
param tags object = {}

var useUserAssigned = !empty(userAssignedIdentityId)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: useUserAssigned
    ? {
        type: 'SystemAssigned, UserAssigned'
        userAssignedIdentities: {
          '${userAssignedIdentityId}': {}
        }
      }
    : {
        type: 'SystemAssigned'
      }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: useUserAssigned ? userAssignedIdentityId : 'SystemAssigned'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: useUserAssigned
            ? {
                type: 'UserAssignedIdentity'
                userAssignedIdentityResourceId: userAssignedIdentityId
              }
            : {
                type: 'SystemAssignedIdentity'
              }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// With a user-assigned identity, the host's storage connection must name it (AzureWebJobsStorage__clientId).
var identitySettings = useUserAssigned ? { AzureWebJobsStorage__clientId: userAssignedIdentityClientId } : {}

var baseSettings = {
  // Identity-based host storage (shared-key access is off on the account).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  KEY_VAULT_URL: keyVaultUrl
  ARM_ENDPOINT: environment().resourceManager
  ML_API_VERSION: mlApiVersion
  V1_MMS_HOST_TEMPLATE: v1MmsHostTemplate
  TABLE_PREFIX: tablePrefix
  ROTATION_SCHEDULE: rotationSchedule
  ROTATION_QUEUE: rotationQueue
  ROTATION_PERIOD_HOURS: rotationPeriodHours
  ROTATION_GRACE_HOURS: rotationGraceHours
  ROTATION_MIN_GRACE_HOURS: rotationMinGraceHours
  ROTATION_LEASE_SECONDS: rotationLeaseSeconds
  ROTATION_TEST_TIMEOUT_SECONDS: rotationTestTimeoutSeconds
  ENDPOINTS_FILE: endpointsFile
  BROKER_SECRET_PEPPER: '@Microsoft.KeyVault(SecretUri=${pepperSecretUri})'
  BROKER_MIN_TOKEN_LIFETIME_SECONDS: brokerMinTokenLifetimeSeconds
  BROKER_REFRESH_FRACTION: brokerRefreshFraction
  BROKER_CACHE_MAX_ENTRIES: brokerCacheMaxEntries
  BROKER_DEFAULT_RATE_LIMIT_PER_MINUTE: brokerDefaultRateLimitPerMinute
  BROKER_CLIENT_COLD_READS_PER_SECOND: brokerClientColdReadsPerSecond
  EVENT_GRID_TOPIC_ENDPOINT: eventGridTopicEndpoint
  EVENT_GRID_TOPIC_KEY: empty(eventGridTopicKeySecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${eventGridTopicKeySecretUri})'
  EVENTS_RETRY_QUEUE: eventsRetryQueue
  AUTO_REGISTER_ENABLED: autoRegisterEnabled ? 'true' : 'false'
  AUTO_REGISTER_TAG: autoRegisterTag
  ADMIN_PUBLIC_BASE_URL: adminPublicBaseUrl
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  AZURE_CLIENT_ID: userAssignedIdentityClientId
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(baseSettings, identitySettings)
}

@description('Object id of the system-assigned identity.')
output principalId string = site.identity.principalId
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output id string = site.id
