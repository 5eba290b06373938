import {
  deriveEndpointId,
  deriveSecretName,
  matchesAutoRegisterFilter,
  parseOnlineEndpointId,
  parseResourceGroupId,
  parseServerlessEndpointId,
  parseWorkspaceId,
} from '../../../shared/events/onlineEndpointResource';

const ID =
  '/subscriptions/sub-1/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-ws/onlineEndpoints/credit-score';

describe('Function: parseServerlessEndpointId', () => {
  it('reads the four coordinates of a serverless endpoint id, in any casing, and nothing else', () => {
    // Prepare
    const id = ID.replace('onlineEndpoints', 'serverlessendpoints');

    // Act + Assess
    expect(parseServerlessEndpointId(id)).toEqual({
      subscriptionId: 'sub-1',
      resourceGroup: 'ml-rg',
      workspace: 'ml-ws',
      name: 'credit-score',
    });
    expect(parseServerlessEndpointId(ID)).toBeUndefined();
    expect(parseServerlessEndpointId(`${id}/listKeys`)).toBeUndefined();
  });
});

describe('Function: parseOnlineEndpointId', () => {
  it('reads the four coordinates of an online endpoint id, in any casing', () => {
    // Act
    const coords = parseOnlineEndpointId(
      ID.replace(
        'providers/Microsoft.MachineLearningServices',
        'providers/microsoft.machinelearningservices',
      ),
    );

    // Assess
    expect(coords).toEqual({
      subscriptionId: 'sub-1',
      resourceGroup: 'ml-rg',
      workspace: 'ml-ws',
      name: 'credit-score',
    });
  });

  it.each([
    ['a deployment (sub-resource)', `${ID}/deployments/blue`],
    ['a batch endpoint', ID.replace('onlineEndpoints', 'batchEndpoints')],
    ['a workspace', ID.replace('/onlineEndpoints/credit-score', '')],
    ['junk', 'not-an-id'],
  ])('ignores %s', (_name, id) => {
    // Act + Assess
    expect(parseOnlineEndpointId(id)).toBeUndefined();
  });
});

describe('Function: parseWorkspaceId', () => {
  it('reads a workspace id', () => {
    // Act + Assess
    expect(parseWorkspaceId(ID.replace('/onlineEndpoints/credit-score', ''))).toEqual({
      subscriptionId: 'sub-1',
      resourceGroup: 'ml-rg',
      workspace: 'ml-ws',
    });
  });
});

describe('Function: parseResourceGroupId', () => {
  it('reads a resource group id, in any casing', () => {
    // Act + Assess
    expect(parseResourceGroupId('/SUBSCRIPTIONS/sub-1/RESOURCEGROUPS/ML-RG')).toEqual({
      subscriptionId: 'sub-1',
      resourceGroup: 'ML-RG',
    });
  });

  it.each([
    ['a workspace', ID.replace('/onlineEndpoints/credit-score', '')],
    ['a resource in the group', ID],
    ['a subscription', '/subscriptions/sub-1'],
  ])('ignores %s', (_name, id) => {
    // Act + Assess
    expect(parseResourceGroupId(id)).toBeUndefined();
  });
});

describe('Function: deriveEndpointId', () => {
  it('builds a lowercase id of letters, digits and hyphens within 63 characters', () => {
    // Act
    const id = deriveEndpointId({
      subscriptionId: 's',
      resourceGroup: 'r',
      workspace: 'My_WS',
      name: 'X'.repeat(80),
    });

    // Assess
    expect(id).toMatch(/^[a-z0-9-]{3,63}$/);
    expect(id.startsWith('my-ws-')).toBe(true);
    expect(deriveSecretName('my-ws-a')).toBe('aml-my-ws-a-key');
  });
});

describe('Function: matchesAutoRegisterFilter', () => {
  it.each([
    ['aml-credential-broker=rotate', 'e', { 'aml-credential-broker': 'rotate' }, true],
    ['aml-credential-broker=rotate', 'e', { 'aml-credential-broker': 'no' }, false],
    ['rotate-me', 'e', { 'Rotate-Me': '' }, true],
    ['name:prod-*', 'prod-credit', {}, true],
    ['name:prod-*', 'dev-credit', {}, false],
    ['team=a, name:x*', 'xyz', {}, true],
    ['', 'e', { a: 'b' }, false],
  ])('filter %j on %s with tags %j → %s', (filter, name, tags, expected) => {
    // Act + Assess
    expect(matchesAutoRegisterFilter(filter, name, tags)).toBe(expected);
  });
});
