// Custom role with EXACTLY the Azure ML actions the code calls. The action lists come from ml-custom-role.json,
// generated from shared/permissions.ts by local/generateRoleDefinition.ts, so Bicep and code cannot drift.
// Deploy this module into the resource group of the ML workspace.
param workspaceName string
param principalId string

var roleJson = loadJsonContent('../ml-custom-role.json')

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, roleJson.roleName)
  properties: {
    roleName: '${roleJson.roleName} (${resourceGroup().name})'
    description: roleJson.description
    type: 'CustomRole'
    permissions: [
      {
        actions: roleJson.actions
        notActions: roleJson.notActions
        dataActions: roleJson.dataActions
        notDataActions: roleJson.notDataActions
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, role.id)
  scope: workspace
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: role.id
  }
}

output roleDefinitionId string = role.id
