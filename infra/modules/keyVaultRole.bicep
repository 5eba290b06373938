// Key Vault Secrets Officer for the app, scoped to the vault. The code needs only the data actions listed by
// keyVaultDataActions() in shared/permissions.ts (getSecret, setSecret, readMetadata, update); see docs/security.md
// for narrowing to a custom role or to single secrets.
param keyVaultName string
param principalId string

var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
  }
}
