// aml-credential-broker: one `az deployment group create` deploys the app, its storage, Key Vault, monitoring,
// Event Grid and the least-privilege custom role on the ML workspace (which must be in this resource group;
// for a workspace elsewhere deploy modules/mlRole.bicep into its resource group with the output principalId).
targetScope = 'resourceGroup'

@description('Short prefix for resource names (letters, digits and single hyphens, as in an azd environment name; the storage account name drops the hyphens).')
@minLength(3)
@maxLength(12)
param baseName string
param location string = resourceGroup().location
@secure()
@minLength(32)
@description('Server-side pepper for broker client secret hashes (at least 32 characters). Stored in Key Vault.')
param brokerSecretPepper string
@description('Name of the Azure ML workspace (in this resource group) whose endpoints the app manages; empty = skip the ML role.')
param mlWorkspaceName string = ''
@description('Online endpoints to scope the ML role to instead of the whole workspace (narrower; empty = workspace).')
param mlOnlineEndpointNames array = []
@description('Key Vault secret names the app manages (Event Grid subject filter).')
@maxLength(25)
param managedSecretNames array = []
@secure()
@description('Function key of the events function; set on a second deployment once the code is published.')
param eventsFunctionKey string = ''
param createEventGridTopic bool = false
@description('Optional user-assigned identity (resource id, client id, principal id from `az identity show`). When set, the app, the host and Key Vault references use it and the role assignments go to it; otherwise to the system-assigned identity.')
param userAssignedIdentityId string = ''
param userAssignedIdentityClientId string = ''
param userAssignedIdentityPrincipalId string = ''
param actionGroupId string = ''
@description('Daily ingestion cap of the Log Analytics workspace behind Application Insights, in GB (-1 = no cap). At the cap telemetry and alerts stop until the daily reset; the daily-cap-reached alert says so.')
@minValue(-1)
param logsDailyCapGb int = 10
param mlApiVersion string = '2025-12-01'
@description('Host of the Azure ML SDK v1 model-management API for v1 web services; {region} is the service\'s region.')
param v1MmsHostTemplate string = 'https://{region}.api.azureml.ms'
param rotationSchedule string = '0 */15 * * * *'
param rotationPeriodHours string = '720'
param rotationGraceHours string = '25'
param autoRegisterEnabled bool = false
@description('Optional JSON file of declared endpoints inside the deployed package (ENDPOINTS_FILE).')
param endpointsFile string = ''
param tags object = {
  app: 'aml-credential-broker'
}

var suffix = uniqueString(resourceGroup().id, baseName)
var storageAccountName = take(toLower(replace('${baseName}${suffix}', '-', '')), 24)
var keyVaultName = take('${baseName}-kv-${suffix}', 24)
var appName = '${baseName}-func-${suffix}'

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    storageAccountName: storageAccountName
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    baseName: baseName
    actionGroupId: actionGroupId
    dailyCapGb: logsDailyCapGb
    tags: tags
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    baseName: baseName
    appInsightsId: monitoring.outputs.appInsightsId
    tags: tags
  }
}

module keyVault 'modules/keyVault.bicep' = {
  name: 'keyVault'
  params: {
    location: location
    keyVaultName: keyVaultName
    brokerSecretPepper: brokerSecretPepper
    tags: tags
  }
}

module eventGridTopic 'modules/eventGridTopic.bicep' = if (createEventGridTopic) {
  name: 'eventGridTopic'
  params: {
    location: location
    baseName: baseName
    tags: tags
  }
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  params: {
    location: location
    appName: appName
    planName: '${baseName}-plan-${suffix}'
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    keyVaultUrl: keyVault.outputs.uri
    pepperSecretUri: keyVault.outputs.pepperSecretUri
    appInsightsConnectionString: monitoring.outputs.connectionString
    userAssignedIdentityId: userAssignedIdentityId
    userAssignedIdentityClientId: userAssignedIdentityClientId
    mlApiVersion: mlApiVersion
    v1MmsHostTemplate: v1MmsHostTemplate
    rotationSchedule: rotationSchedule
    rotationPeriodHours: rotationPeriodHours
    rotationGraceHours: rotationGraceHours
    autoRegisterEnabled: autoRegisterEnabled
    endpointsFile: endpointsFile
    eventGridTopicEndpoint: createEventGridTopic ? eventGridTopic.outputs.endpoint : ''
    tags: union(tags, { 'azd-service-name': 'broker' })
  }
}

// The identity the code runs as (AZURE_CLIENT_ID selects the user-assigned one when given) gets the roles.
var appPrincipalId = empty(userAssignedIdentityId) ? functionApp.outputs.principalId : userAssignedIdentityPrincipalId

module storageRoles 'modules/storageRoles.bicep' = {
  name: 'storageRoles'
  params: {
    storageAccountName: storage.outputs.name
    principalId: appPrincipalId
  }
}

module keyVaultRole 'modules/keyVaultRole.bicep' = {
  name: 'keyVaultRole'
  params: {
    keyVaultName: keyVault.outputs.name
    principalId: appPrincipalId
  }
}

module mlRole 'modules/mlRole.bicep' = if (!empty(mlWorkspaceName)) {
  name: 'mlRole'
  params: {
    workspaceName: mlWorkspaceName
    principalId: appPrincipalId
    onlineEndpointNames: mlOnlineEndpointNames
  }
}

module eventGrid 'modules/eventGrid.bicep' = {
  name: 'eventGrid'
  params: {
    location: location
    baseName: baseName
    keyVaultName: keyVault.outputs.name
    functionAppHostName: functionApp.outputs.defaultHostName
    eventsFunctionKey: eventsFunctionKey
    managedSecretNames: managedSecretNames
    storageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    customTopicName: createEventGridTopic ? eventGridTopic.outputs.name : ''
    principalId: appPrincipalId
    tags: tags
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
@description('Object id of the identity that holds the role assignments.')
output principalId string = appPrincipalId
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output storageAccountName string = storage.outputs.name
