// Key Vault (RBAC permission model, soft delete, purge protection) holding the endpoint keys and the broker pepper.
param location string
param keyVaultName string
@secure()
@description('Server-side pepper for broker client secret hashes (at least 32 characters).')
param brokerSecretPepper string
param pepperSecretName string = 'broker-secret-pepper'
param softDeleteRetentionInDays int = 90
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource pepper 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: pepperSecretName
  properties: {
    value: brokerSecretPepper
    contentType: 'text/plain'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
output pepperSecretUri string = pepper.properties.secretUri
