import { hasKeyAuth, servesAuthMode } from '../../../shared/endpoints/armAuthMode';
import type { AuthMode, EndpointKind } from '../../../shared/endpoints/ManagedEndpoint';

describe('Module: armAuthMode', () => {
  // The one table a registration, the rotator and a reinstatement all follow.
  it.each<[EndpointKind, AuthMode, string, boolean]>([
    ['onlineEndpoint', 'Key', 'Key', true],
    ['onlineEndpoint', 'Key', 'AMLToken', false],
    ['onlineEndpoint', 'AMLToken', 'AMLToken', true],
    ['onlineEndpoint', 'AMLToken', 'amltoken', true],
    ['onlineEndpoint', 'AMLToken', 'AADToken', false],
    ['onlineEndpoint', 'AADToken', 'AADToken', true],
    ['onlineEndpoint', 'AADToken', 'AMLToken', false],
    ['onlineEndpoint', 'AADToken', 'Key', false],
    ['serverlessEndpoint', 'Key', 'Key', true],
    ['serverlessEndpoint', 'Key', 'AAD', false],
    ['serverlessEndpoint', 'Key', 'KeyAndAAD', false],
    ['serverlessEndpoint', 'AADToken', 'AAD', true],
    ['serverlessEndpoint', 'AADToken', 'KeyAndAAD', true],
    ['serverlessEndpoint', 'AADToken', 'Key', false],
    ['serverlessEndpoint', 'AMLToken', 'AAD', false],
    ['serverlessEndpoint', 'AMLToken', 'Key', false],
  ])('a %s registered for %s is served by ARM auth mode %s: %s', (kind, authMode, atArm, served) => {
    expect(servesAuthMode({ kind, authMode }, atArm)).toBe(served);
  });

  it('counts exactly Key as keys to rotate', () => {
    expect(['Key', 'key', 'KeyAndAAD', 'AAD', 'AMLToken', 'None', ''].map(hasKeyAuth)).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
