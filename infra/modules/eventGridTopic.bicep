// Optional custom topic for the CloudEvents the app publishes (KeyRotated, RotationFailed, DriftDetected).
// Created before the function app so its endpoint can go into EVENT_GRID_TOPIC_ENDPOINT.
param location string
param baseName string
param tags object = {}

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  name: '${baseName}-rotation-events'
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    // The app publishes with its managed identity (EventGrid Data Sender); no access key is needed.
    disableLocalAuth: true
  }
}

output name string = topic.name
output endpoint string = topic.properties.endpoint
