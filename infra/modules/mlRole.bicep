// Custom role with EXACTLY the Azure ML actions the code calls. The action lists come from ml-custom-role.json,
// generated from shared/permissions.ts by local/generateRoleDefinition.ts, so Bicep and code cannot drift.
// Deploy this module into the resource group of the ML workspace. It is assigned on the workspace, or, when
// onlineEndpointNames is given, on each of those online endpoints only (narrower: no serverless or v1 services).
param workspaceName string
param principalId string
@description('Online endpoints to scope the assignment to; empty = the whole workspace.')
param onlineEndpointNames array = []

var roleJson = loadJsonContent('../ml-custom-role.json')

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, roleJson.roleName)
  properties: {
    // Role names are unique per tenant; resource group names repeat across subscriptions.
    roleName: '${roleJson.roleName} (${resourceGroup().name}, ${uniqueString(resourceGroup().id)})'
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

resource onWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (empty(onlineEndpointNames)) {
  name: guid(workspace.id, principalId, role.id)
  scope: workspace
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: role.id
  }
}

resource endpoints 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2024-10-01' existing = [
  for name in onlineEndpointNames: {
    parent: workspace
    name: name
  }
]

resource onEndpoints 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in onlineEndpointNames: {
    name: guid(workspace.id, name, principalId, role.id)
    scope: endpoints[i]
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: role.id
    }
  }
]

output roleDefinitionId string = role.id
