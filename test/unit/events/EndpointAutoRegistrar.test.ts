import { ConflictError, DependencyFailedError, DependencyUnavailableError } from '../../../shared/errors';
import {
  EndpointAutoRegistrar,
  type EndpointAutoRegistrarOptions,
} from '../../../shared/events/EndpointAutoRegistrar';
import type { IncomingEvent } from '../../../shared/events/IncomingEvent';
import { silentLogger } from '../../../shared/logging';
import { isTransientError } from '../../../shared/retry';
import {
  AuthModeNotKeyError,
  EndpointNotKnownHereError,
  requireKeyAuthAt,
} from '../../../shared/rotation/errors';
import { FakeEndpointDescriber } from '../../fakes/events/FakeEndpointDescriber';
import { FakeRotationPorts } from '../../fakes/events/FakeRotationPorts';

const WS =
  '/subscriptions/sub-1/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-ws';
/** The ARM coordinates of endpoint `name` in the workspace {@link WS}. */
const armIn = (name: string) => ({
  subscriptionId: 'sub-1',
  resourceGroup: 'ml-rg',
  workspace: 'ml-ws',
  name,
});
const armEvent = (type: 'Write' | 'Delete', resource: string): IncomingEvent => ({
  schema: 'eventGrid',
  id: `${type}-${resource}`,
  type: `Microsoft.Resources.Resource${type}Success`,
  source: '/subscriptions/sub-1',
  subject: resource,
  data: { resourceUri: resource },
});

function build(enabled = true, more: Partial<EndpointAutoRegistrarOptions> = {}) {
  const rotation = new FakeRotationPorts();
  const describer = new FakeEndpointDescriber();
  const registrar = new EndpointAutoRegistrar({
    rotation,
    describer,
    clock: { now: () => Date.parse('2026-11-23T02:00:00Z') },
    logger: silentLogger,
    enabled,
    filter: 'aml-credential-broker=rotate',
    ...more,
  });
  return { rotation, describer, registrar };
}

describe('Class: EndpointAutoRegistrar', () => {
  describe('Method: handle', () => {
    it('does not register an endpoint without the tag', async () => {
      // Prepare
      const { rotation, describer, registrar } = build();
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { other: 'x' } });

      // Act
      const result = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

      // Assess
      expect(result.action).toBe('filteredOut');
      expect(rotation.registered).toHaveLength(0);
    });

    it('takes the opt-in tag from ARM only, never from the event (its ServiceTags are the sender’s word)', async () => {
      // Prepare: a ModelDeployed event (a v1 service of the same name, or a forged POST) carries the tag
      const { rotation, describer, registrar } = build();
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: {} });
      const event: IncomingEvent = {
        schema: 'eventGrid',
        id: 'deployed-e1',
        type: 'Microsoft.MachineLearningServices.ModelDeployed',
        source: WS,
        subject: 'endpoints/e1',
        data: { ServiceName: 'e1', ServiceTags: { 'aml-credential-broker': 'rotate' } },
      };

      // Act
      const result = await registrar.handle(event);

      // Assess: the endpoint's owner never opted in, so its keys are not rotated
      expect(result.action).toBe('filteredOut');
      expect(rotation.registered).toHaveLength(0);
    });

    it('does not register a token-auth endpoint (no key to rotate)', async () => {
      // Prepare
      const { describer, registrar } = build();
      describer.add('ml-ws', 'e1', { authMode: 'AMLToken', tags: { 'aml-credential-broker': 'rotate' } });

      // Act + Assess
      expect((await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`))).action).toBe(
        'notKeyAuth',
      );
    });

    it('ignores writes to deployments and other resources without calling ARM', async () => {
      // Prepare
      const { describer, registrar } = build();

      // Act
      const result = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1/deployments/blue`));

      // Assess
      expect(result.action).toBe('ignored');
      expect(describer.described).toHaveLength(0);
    });

    it('registers once when the same endpoint is written twice', async () => {
      // Prepare
      const { rotation, describer, registrar } = build();
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });
      const event = armEvent('Write', `${WS}/onlineEndpoints/e1`);

      // Act
      const first = await registrar.handle(event);
      const second = await registrar.handle({ ...event, id: 'another-id' });

      // Assess
      expect([first.action, second.action]).toEqual(['registered', 'alreadyRegistered']);
      expect(rotation.registered).toHaveLength(1);
    });

    it.each([
      ['its derived id', { id: 'ml-ws-e1', secretName: 'other-secret' }],
      ['its derived secret name', { id: 'hand-made', secretName: 'aml-ml-ws-e1-key' }],
    ])(
      'refuses, not reports as registered, an endpoint whose %s belongs to another endpoint',
      async (_what, taken) => {
        // Prepare: a workspace of the same name in another resource group already has an "e1" registered
        const { rotation, describer, registrar } = build();
        rotation.addEndpoint({
          ...taken,
          arm: { subscriptionId: 'sub-1', resourceGroup: 'other-rg', workspace: 'ml-ws', name: 'e1' },
        });
        describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });

        // Act
        const handled = registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

        // Assess: the router acknowledges the conflict as `rejected`, logged at error, for a person to settle
        await expect(handled).rejects.toBeInstanceOf(ConflictError);
        expect(rotation.registered).toHaveLength(0);
      },
    );

    it('counts a conflict with a twin delivery that registered the same endpoint meanwhile as already registered', async () => {
      // Prepare: the registry shows nothing, then the twin's registration lands just before this one
      const { rotation, describer, registrar } = build();
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });
      const register = rotation.admin.register;
      rotation.admin.register = async (input) => {
        await register(input);
        return register(input);
      };

      // Act
      const result = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

      // Assess
      expect(result).toMatchObject({ action: 'alreadyRegistered', endpointId: 'ml-ws-e1' });
      expect(rotation.registered).toHaveLength(1);
    });

    it('does nothing when a write arrives after the delete of the same endpoint (reordered)', async () => {
      // Prepare: the endpoint no longer exists in ARM
      const { rotation, registrar } = build();

      // Act
      const del = await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));
      const write = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

      // Assess
      expect([del.action, write.action]).toEqual(['notManaged', 'notAnOnlineEndpoint']);
      expect(rotation.registered).toHaveLength(0);
    });

    it('retires a registered endpoint once, leaving its secret alone', async () => {
      // Prepare
      const { rotation, registrar } = build();
      rotation.addEndpoint({
        id: 'manual-id',
        secretName: 'kept-secret',
        arm: { subscriptionId: 'SUB-1', resourceGroup: 'ML-RG', workspace: 'ml-ws', name: 'e1' },
      });

      // Act
      await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));
      const again = await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));

      // Assess
      expect(again.action).toBe('retired');
      expect(rotation.retired).toEqual([{ id: 'manual-id', at: '2026-11-23T02:00:00.000Z' }]);
    });

    it('does not retire an endpoint registered or reinstated after the delete (delivered late, it was of the resource before)', async () => {
      // Prepare: the delete happened at 01:55; Event Grid delivers it at 02:00, after its retries
      const { rotation, registrar } = build();
      rotation.addEndpoint({
        id: 'registered-after',
        secretName: 's1',
        arm: armIn('e1'),
        createdAt: '2026-11-23T01:56:00.000Z',
      });
      rotation.addEndpoint({
        id: 'reinstated-after',
        secretName: 's2',
        arm: armIn('e2'),
        createdAt: '2026-01-01T00:00:00.000Z',
        reinstatedAt: '2026-11-23T01:57:00.000Z',
      });
      rotation.addEndpoint({
        id: 'before',
        secretName: 's3',
        arm: armIn('e3'),
        createdAt: '2026-11-23T01:54:00.000Z',
      });
      const late = (name: string) => ({
        ...armEvent('Delete', `${WS}/onlineEndpoints/${name}`),
        time: '2026-11-23T01:55:00.0000000Z',
      });

      // Act
      const results = [await registrar.handle(late('e1')), await registrar.handle(late('e2'))];
      const before = await registrar.handle(late('e3'));

      // Assess
      expect(results).toEqual([
        expect.objectContaining({ action: 'staleDelete', endpointId: 'registered-after' }),
        expect.objectContaining({ action: 'staleDelete', endpointId: 'reinstated-after' }),
      ]);
      expect(before.action).toBe('retired');
      expect(rotation.retired).toEqual([{ id: 'before', at: '2026-11-23T02:00:00.000Z' }]);
    });

    it('does not retire a registration never retired when ARM has its endpoint again (the late delete was of the one before)', async () => {
      // Prepare: registered long ago; deleted in Azure at 01:50 and re-created at 01:52, whose write found the
      // registration still in service; Event Grid delivers the 01:50 delete only now, after its retries
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({
        id: 'ml-ws-e1',
        secretName: 'aml-ml-ws-e1-key',
        arm: armIn('e1'),
        createdAt: '2026-11-01T00:00:00.000Z',
      });
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });
      const write = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

      // Act
      const late = await registrar.handle({
        ...armEvent('Delete', `${WS}/onlineEndpoints/e1`),
        time: '2026-11-23T01:50:00.0000000Z',
      });

      // Assess: no timestamp tells it apart, ARM does: the live endpoint stays in service
      expect(write.action).toBe('alreadyRegistered');
      expect(late).toMatchObject({ action: 'staleDelete', endpointId: 'ml-ws-e1' });
      expect(describer.checked).toEqual(['onlineEndpoint ml-ws/e1']);
      expect(rotation.retired).toHaveLength(0);
    });

    it('retires on the delete alone when ARM refuses to say whether the endpoint exists (403: no role left on a deleted scope)', async () => {
      // Prepare
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({
        id: 'ml-ws-e1',
        secretName: 'aml-ml-ws-e1-key',
        arm: armIn('e1'),
      });
      describer.failNextCheck(new DependencyFailedError('arm', 'ARM refused (HTTP 403).', 403));

      // Act
      const result = await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));

      // Assess
      expect(result).toMatchObject({ action: 'retired', endpointId: 'ml-ws-e1' });
      expect(rotation.retired.map((r) => r.id)).toEqual(['ml-ws-e1']);
    });

    it('retires nothing while ARM is unavailable, so that Event Grid delivers the delete again', async () => {
      // Prepare
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({
        id: 'ml-ws-e1',
        secretName: 'aml-ml-ws-e1-key',
        arm: armIn('e1'),
      });
      describer.failNextCheck(new DependencyUnavailableError('arm', 'throttled'));

      // Act
      const failed = registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));

      // Assess: the router answers 503; the retry finds the endpoint gone and retires it
      await expect(failed).rejects.toBeInstanceOf(DependencyUnavailableError);
      expect(rotation.retired).toHaveLength(0);
      expect((await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`))).action).toBe('retired');
    });

    it('keeps in service the endpoints of a deleted workspace or resource group that ARM has again, retiring the rest', async () => {
      // Prepare: the workspace was deleted and re-created with e1 (its registration never retired), not e2;
      // a v1 web service is no ARM resource and is retired on the delete alone
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({ id: 'back', secretName: 's1', arm: armIn('e1') });
      rotation.addEndpoint({ id: 'gone', kind: 'serverlessEndpoint', secretName: 's2', arm: armIn('e2') });
      rotation.addEndpoint({ id: 'v1', kind: 'v1WebService', secretName: 's3', arm: armIn('svc') });
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: {} });

      // Act
      const workspace = await registrar.handle(armEvent('Delete', WS));
      const group = await registrar.handle(armEvent('Delete', '/subscriptions/sub-1/resourceGroups/ml-rg'));

      // Assess
      expect([workspace.action, group.action]).toEqual(['retired', 'staleDelete']);
      // (in the order ARM answers: the endpoints are checked a few at a time)
      expect(rotation.retired.map((r) => r.id).sort()).toEqual(['gone', 'v1']);
      expect(describer.checked).toEqual([
        'onlineEndpoint ml-ws/e1',
        'serverlessEndpoint ml-ws/e2',
        'onlineEndpoint ml-ws/e1',
      ]);
    });

    it('reinstates an endpoint re-created under the same name after its delete, and queues a drift job', async () => {
      // Prepare: registered, then deleted in Azure (retired here), then created again with the tag
      const { rotation, describer, registrar } = build();
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });
      await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));
      describer.remove('ml-ws', 'e1');
      await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });

      // Act
      const recreated = await registrar.handle({
        ...armEvent('Write', `${WS}/onlineEndpoints/e1`),
        id: 'again',
      });
      const twin = await registrar.handle({ ...armEvent('Write', `${WS}/onlineEndpoints/e1`), id: 'twin' });

      // Assess: rotated again, and the deleted endpoint's key in Key Vault is checked at once
      expect(recreated).toMatchObject({ action: 'reinstated', endpointId: 'ml-ws-e1' });
      expect(twin).toMatchObject({ action: 'alreadyRegistered', endpointId: 'ml-ws-e1' });
      expect(rotation.reinstated).toEqual(['ml-ws-e1']);
      expect(rotation.endpoints.find((e) => e.id === 'ml-ws-e1')?.retiredAt).toBeUndefined();
      expect(rotation.enqueued).toEqual([
        { endpointId: 'ml-ws-e1', reason: 'drift', requestedAt: '2026-11-23T02:00:00.000Z' },
      ]);
      expect(rotation.registered).toHaveLength(1);
    });

    it('still queues the drift job on the retry when the queue was down as it reinstated', async () => {
      // Prepare: registered, deleted in Azure (retired), re-created; the job queue fails once
      const { rotation, describer, registrar } = build();
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });
      await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));
      describer.remove('ml-ws', 'e1');
      await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });
      const recreated = { ...armEvent('Write', `${WS}/onlineEndpoints/e1`), id: 'again' };
      rotation.failNext('jobs', new DependencyUnavailableError('queue', 'queue down'));

      // Act: the failure becomes a 503, and Event Grid delivers the same event again
      const failed = registrar.handle(recreated);
      await expect(failed).rejects.toThrow(DependencyUnavailableError);
      const retried = await registrar.handle(recreated);

      // Assess: the retry takes the reinstate path again instead of answering alreadyRegistered
      expect(retried).toMatchObject({ action: 'reinstated', endpointId: 'ml-ws-e1' });
      expect(rotation.enqueued).toEqual([
        { endpointId: 'ml-ws-e1', reason: 'drift', requestedAt: '2026-11-23T02:00:00.000Z' },
      ]);
      expect(rotation.endpoints.find((e) => e.id === 'ml-ws-e1')?.retiredAt).toBeUndefined();
    });

    it.each([
      ['still deleted (a write delivered late)', undefined, 'notAnOnlineEndpoint'],
      ['re-created without the tag', { authMode: 'Key', tags: {} }, 'filteredOut'],
      [
        're-created with token auth',
        { authMode: 'AMLToken', tags: { 'aml-credential-broker': 'rotate' } },
        'notKeyAuth',
      ],
    ] as const)(
      'leaves a retired endpoint retired when ARM describes it %s',
      async (_case, description, action) => {
        // Prepare
        const { rotation, describer, registrar } = build();
        rotation.addEndpoint({
          id: 'ml-ws-e1',
          secretName: 'aml-ml-ws-e1-key',
          arm: armIn('e1'),
        });
        await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));
        if (description) describer.add('ml-ws', 'e1', { ...description });

        // Act
        const result = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

        // Assess
        expect(result.action).toBe(action);
        expect(rotation.reinstated).toHaveLength(0);
        expect(rotation.enqueued).toHaveLength(0);
      },
    );

    it.each(['v1WebService', 'serverlessEndpoint'] as const)(
      'leaves a registered %s alone when an online endpoint of the same name in its workspace is written or deleted',
      async (kind) => {
        // Prepare: a v1 web service (or serverless endpoint) shares workspace and name with an online endpoint
        const { rotation, describer, registrar } = build();
        rotation.addEndpoint({
          id: 'scorer-other',
          kind,
          secretName: 'scorer-other-key',
          arm: armIn('scorer'),
        });
        describer.add('ml-ws', 'scorer', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });

        // Act
        const write = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/scorer`));
        describer.remove('ml-ws', 'scorer');
        const del = await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/scorer`));

        // Assess: the online endpoint is registered in its own right, and only it is retired
        expect(write).toMatchObject({ action: 'registered', endpointId: 'ml-ws-scorer' });
        expect(del).toMatchObject({ action: 'retired', endpointId: 'ml-ws-scorer' });
        expect(rotation.retired.map((r) => r.id)).toEqual(['ml-ws-scorer']);
        expect(rotation.endpoints.find((e) => e.id === 'scorer-other')?.retiredAt).toBeUndefined();
      },
    );

    it('retires a serverless endpoint registered by hand on its own delete, not an online endpoint of the same name', async () => {
      // Prepare: serverless endpoints are registered by hand (kind serverlessEndpoint, arm naming the endpoint)
      const { rotation, describer, registrar } = build();
      const arm = { subscriptionId: 'SUB-1', resourceGroup: 'ML-RG', workspace: 'ml-ws', name: 'llm' };
      rotation.addEndpoint({ id: 'llm', kind: 'serverlessEndpoint', secretName: 's1', arm });
      rotation.addEndpoint({ id: 'online-llm', secretName: 's2', arm });

      // Act
      const write = await registrar.handle(armEvent('Write', `${WS}/serverlessEndpoints/llm`));
      const deleted = await registrar.handle(armEvent('Delete', `${WS}/serverlessEndpoints/llm`));
      const unknown = await registrar.handle(armEvent('Delete', `${WS}/serverlessEndpoints/other`));

      // Assess: checked at ARM first, as an online endpoint's delete; a write registers nothing
      expect(write).toMatchObject({ action: 'alreadyRegistered', endpointId: 'llm' });
      expect(deleted).toMatchObject({ action: 'retired', endpointId: 'llm' });
      expect(unknown.action).toBe('notManaged');
      expect(rotation.retired.map((r) => r.id)).toEqual(['llm']);
      expect(describer.checked).toEqual(['serverlessEndpoint ml-ws/llm']);
      expect(describer.described).toHaveLength(0);
    });

    it('reinstates a serverless endpoint registered by hand when it is created again after its delete, and queues a drift job', async () => {
      // Prepare: registered by hand, deleted in Azure (retired here), created again under the same name
      const { rotation, describer, registrar } = build();
      const arm = armIn('llm');
      rotation.addEndpoint({ id: 'llm', kind: 'serverlessEndpoint', secretName: 's1', arm });
      await registrar.handle(armEvent('Delete', `${WS}/serverlessEndpoints/llm`));
      describer.addServerless('ml-ws', 'llm');

      // Act: its write (operation …/serverlessEndpoints/write), then a second delivery of it
      const written = await registrar.handle(armEvent('Write', `${WS}/serverlessEndpoints/llm`));
      const twin = await registrar.handle({
        ...armEvent('Write', `${WS}/serverlessEndpoints/llm`),
        id: 'twin',
      });

      // Assess: rotated again without a DELETE and POST by hand, the deleted endpoint's key checked at once
      expect(written).toMatchObject({ action: 'reinstated', endpointId: 'llm' });
      expect(twin).toMatchObject({ action: 'alreadyRegistered', endpointId: 'llm' });
      expect(rotation.reinstated).toEqual(['llm']);
      expect(rotation.enqueued).toEqual([
        { endpointId: 'llm', reason: 'drift', requestedAt: '2026-11-23T02:00:00.000Z' },
      ]);
      expect(describer.describedKinds).toEqual(['serverlessEndpoint']);
      expect(rotation.registered).toHaveLength(0);
    });

    it('registers no serverless endpoint from its write, and leaves a retired one retired unless ARM has it with keys', async () => {
      // Prepare: llm-1 retired and still deleted at ARM (its write delivered late); llm-2 retired and created
      // again with Entra ID auth only; an online endpoint "llm-3" retired, a serverless one of that name created;
      // llm-4 never registered
      const { rotation, describer, registrar } = build();
      const retiredAt = '2026-11-01T00:00:00.000Z';
      rotation.addEndpoint({
        id: 'gone',
        kind: 'serverlessEndpoint',
        secretName: 's1',
        arm: armIn('llm-1'),
        retiredAt,
      });
      rotation.addEndpoint({
        id: 'aad',
        kind: 'serverlessEndpoint',
        secretName: 's2',
        arm: armIn('llm-2'),
        retiredAt,
      });
      rotation.addEndpoint({ id: 'online', secretName: 's3', arm: armIn('llm-3'), retiredAt });
      describer.addServerless('ml-ws', 'llm-2', 'Aad');
      describer.addServerless('ml-ws', 'llm-3');
      describer.addServerless('ml-ws', 'llm-4');
      const write = (name: string) =>
        registrar.handle(armEvent('Write', `${WS}/serverlessEndpoints/${name}`));

      // Act
      const results = [
        await write('llm-1'),
        await write('llm-2'),
        await write('llm-3'),
        await write('llm-4'),
      ];

      // Assess
      expect(results.map((r) => r.action)).toEqual(['ignored', 'notKeyAuth', 'notManaged', 'notManaged']);
      expect(rotation.reinstated).toHaveLength(0);
      expect(rotation.registered).toHaveLength(0);
      expect(rotation.enqueued).toHaveLength(0);
    });

    it('leaves serverless writes alone when auto-registration is off', async () => {
      // Prepare
      const { rotation, describer, registrar } = build(false);
      rotation.addEndpoint({
        id: 'llm',
        kind: 'serverlessEndpoint',
        secretName: 's1',
        arm: armIn('llm'),
        retiredAt: '2026-11-01T00:00:00.000Z',
      });
      describer.addServerless('ml-ws', 'llm');

      // Act
      const result = await registrar.handle(armEvent('Write', `${WS}/serverlessEndpoints/llm`));

      // Assess
      expect(result.action).toBe('autoRegisterDisabled');
      expect(rotation.reinstated).toHaveLength(0);
    });

    it('keeps a serverless endpoint in service when its delete is older than the registration, or ARM has it again', async () => {
      // Prepare
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({
        id: 'registered-after',
        kind: 'serverlessEndpoint',
        secretName: 's1',
        arm: armIn('llm-1'),
        createdAt: '2026-11-23T01:56:00.000Z',
      });
      rotation.addEndpoint({
        id: 'recreated',
        kind: 'serverlessEndpoint',
        secretName: 's2',
        arm: armIn('llm-2'),
      });
      describer.addServerless('ml-ws', 'llm-2');
      const late = (name: string) => ({
        ...armEvent('Delete', `${WS}/serverlessEndpoints/${name}`),
        time: '2026-11-23T01:55:00.0000000Z',
      });

      // Act
      const results = [await registrar.handle(late('llm-1')), await registrar.handle(late('llm-2'))];

      // Assess
      expect(results).toEqual([
        expect.objectContaining({ action: 'staleDelete', endpointId: 'registered-after' }),
        expect.objectContaining({ action: 'staleDelete', endpointId: 'recreated' }),
      ]);
      expect(rotation.retired).toHaveLength(0);
    });

    it('retires every registered endpoint of a deleted workspace (ARM sends no delete for each of them)', async () => {
      // Prepare: two endpoints in the workspace, one already retired, one in a workspace of the same name
      // in another resource group, one in another workspace
      const { rotation, registrar } = build();
      const at = (resourceGroup: string, workspace: string, name: string) => ({
        subscriptionId: 'SUB-1',
        resourceGroup,
        workspace,
        name,
      });
      rotation.addEndpoint({ id: 'online', secretName: 's1', arm: at('ML-RG', 'ML-WS', 'e1') });
      rotation.addEndpoint({
        id: 'serverless',
        kind: 'serverlessEndpoint',
        secretName: 's2',
        arm: at('ml-rg', 'ml-ws', 'llm'),
      });
      rotation.addEndpoint({
        id: 'gone-before',
        secretName: 's3',
        arm: at('ml-rg', 'ml-ws', 'e0'),
        retiredAt: '2026-01-01T00:00:00.000Z',
      });
      rotation.addEndpoint({ id: 'other-rg', secretName: 's4', arm: at('other-rg', 'ml-ws', 'e1') });
      rotation.addEndpoint({ id: 'other-ws', secretName: 's5', arm: at('ml-rg', 'ml-ws-2', 'e1') });

      // Act
      const result = await registrar.handle(armEvent('Delete', WS));
      const again = await registrar.handle(armEvent('Delete', WS));

      // Assess: retired once each, secrets left alone
      expect([result.action, again.action]).toEqual(['retired', 'retired']);
      expect(rotation.retired).toEqual([
        { id: 'online', at: '2026-11-23T02:00:00.000Z' },
        { id: 'serverless', at: '2026-11-23T02:00:00.000Z' },
      ]);
    });

    it('still retires the other endpoints of a deleted workspace when one cannot be retired', async () => {
      // Prepare: the first one in id order (the registry's) refuses (declared in ENDPOINTS_FILE, say)
      const { rotation, registrar } = build();
      rotation.addEndpoint({ id: 'file-declared', secretName: 's1', arm: armIn('e1') });
      rotation.addEndpoint({ id: 'from-api', secretName: 's2', arm: armIn('e2') });
      rotation.failNext('admin', new ConflictError('Endpoint file-declared is declared in ENDPOINTS_FILE.'));

      // Act
      const handled = registrar.handle(armEvent('Delete', WS));

      // Assess: the refusal reaches the router (acknowledged as rejected), after the rest were retired
      await expect(handled).rejects.toBeInstanceOf(ConflictError);
      expect(rotation.retired.map((r) => r.id)).toEqual(['from-api']);
    });

    it('finds an endpoint it registered by the id it gave it, one point read, without reading the registry', async () => {
      // Prepare: registered by an earlier event
      const { rotation, describer, registrar } = build();
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });
      await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));
      rotation.pageRequests.length = 0;

      // Act: a later write of the endpoint (each raises an event), then its delete
      const written = await registrar.handle({ ...armEvent('Write', `${WS}/onlineEndpoints/e1`), id: 'w2' });
      describer.remove('ml-ws', 'e1');
      const deleted = await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));

      // Assess
      expect(written).toMatchObject({ action: 'alreadyRegistered', endpointId: 'ml-ws-e1' });
      expect(deleted).toMatchObject({ action: 'retired', endpointId: 'ml-ws-e1' });
      expect(rotation.pageRequests).toEqual([]);
    });

    it('finds an endpoint registered by hand under another id a page at a time, reading no page past it', async () => {
      // Prepare: 9 endpoints elsewhere around it; storage answers 2 a request
      const { rotation, registrar } = build();
      for (const id of ['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3', 'b4', 'z9'])
        rotation.addEndpoint({ id, secretName: `${id}-key` });
      rotation.addEndpoint({
        id: 'by-hand',
        secretName: 'by-hand-key',
        arm: armIn('e1'),
      });
      rotation.serverPageLimit = 2;

      // Act
      const result = await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));

      // Assess: a1 a2 | a3 a4 | b1 b2 | b3 b4 | by-hand …: the fifth page holds it, z9 is never read
      expect(result).toMatchObject({ action: 'retired', endpointId: 'by-hand' });
      expect(rotation.pageRequests.map((r) => r.after)).toEqual([undefined, 'a2', 'a4', 'b2', 'b4']);
      expect(rotation.pageRequests.every((r) => r.top <= 100)).toBe(true);
    });

    it('counts an endpoint registered in service as registered, not reinstating a retired registration at the same place', async () => {
      // Prepare: the registration it made was retired; a person then registered the endpoint by hand
      const { rotation, describer, registrar } = build();
      const arm = armIn('e1');
      rotation.addEndpoint({
        id: 'ml-ws-e1',
        secretName: 'aml-ml-ws-e1-key',
        arm,
        retiredAt: '2026-01-01T00:00:00Z',
      });
      rotation.addEndpoint({ id: 'by-hand', secretName: 'by-hand-key', arm });
      describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });

      // Act
      const result = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

      // Assess: one registration rotates the endpoint's keys, not two
      expect(result).toMatchObject({ action: 'alreadyRegistered', endpointId: 'by-hand' });
      expect(rotation.reinstated).toEqual([]);
      expect(rotation.enqueued).toEqual([]);
    });

    it('retires the endpoints of a deleted workspace found on every page of the registry', async () => {
      // Prepare: the workspace's endpoints spread over pages of 2, among others'
      const { rotation, registrar } = build();
      const at = (workspace: string, name: string) => ({
        subscriptionId: 'sub-1',
        resourceGroup: 'ml-rg',
        workspace,
        name,
      });
      for (let i = 0; i < 8; i += 1)
        rotation.addEndpoint({
          id: `ep-${i}`,
          secretName: `s${i}`,
          arm: at(i % 3 ? 'other-ws' : 'ml-ws', `e${i}`),
        });
      rotation.serverPageLimit = 2;

      // Act
      const result = await registrar.handle(armEvent('Delete', WS));

      // Assess
      expect(result.action).toBe('retired');
      expect(rotation.retired.map((r) => r.id)).toEqual(['ep-0', 'ep-3', 'ep-6']);
      expect(rotation.pageRequests).toHaveLength(4);
    });

    it('sums up in one warning the rows the walk of a deleted workspace skipped as unreadable, naming the first five', async () => {
      // Prepare: the workspace's endpoints over pages of 2, and 7 rows edited by hand among them, whose
      // coordinates cannot be read (any of them may be of the deleted workspace)
      const warned: Array<[string, Record<string, unknown> | undefined]> = [];
      const { rotation, registrar } = build(true, {
        logger: { ...silentLogger, warn: (message, props) => void warned.push([message, props]) },
      });
      for (let i = 0; i < 6; i += 1)
        rotation.addEndpoint({ id: `ep-${i}0`, secretName: `s${i}`, arm: armIn(`e${i}`) });
      rotation.unreadableRows.push('ep-01', 'ep-02', 'ep-11', 'ep-21', 'ep-31', 'ep-41', 'ep-51');
      rotation.serverPageLimit = 2;

      // Act
      const result = await registrar.handle(armEvent('Delete', WS));

      // Assess: every readable endpoint retired, the skipped rows counted once each in one line
      expect(result.action).toBe('retired');
      expect(rotation.retired).toHaveLength(6);
      expect(warned).toEqual([
        [
          'autoRegister => workspace deleted, rows skipped as unreadable left as they are',
          {
            unreadable: 7,
            unreadableIds: 'ep-01,ep-02,ep-11,ep-21,ep-31',
            resourceGroup: 'ml-rg',
            workspace: 'ml-ws',
          },
        ],
      ]);
    });

    it('says so when the walk of a deleted workspace skipped unreadable rows and found no endpoint in it', async () => {
      // Prepare
      const warned: string[] = [];
      const { rotation, registrar } = build(true, {
        logger: { ...silentLogger, warn: (message) => void warned.push(message) },
      });
      rotation.unreadableRows.push('ep-01');

      // Act
      const result = await registrar.handle(armEvent('Delete', WS));

      // Assess
      expect(result.action).toBe('notManaged');
      expect(warned).toEqual([
        'autoRegister => workspace deleted, rows skipped as unreadable left as they are',
      ]);
    });

    it('acknowledges the delete of a workspace without registered endpoints as not managed', async () => {
      // Prepare
      const { rotation, registrar } = build();

      // Act
      const result = await registrar.handle(armEvent('Delete', WS));

      // Assess
      expect(result.action).toBe('notManaged');
      expect(rotation.retired).toHaveLength(0);
    });

    it('retires every registered endpoint of a deleted resource group, in all its workspaces (ARM sends no delete for each)', async () => {
      // Prepare: two workspaces in the group (ids written in other casings), one endpoint in a group of
      // the same name in another subscription, one in a group whose name only starts the same
      const { rotation, registrar } = build();
      const at = (subscriptionId: string, resourceGroup: string, workspace: string, name: string) => ({
        subscriptionId,
        resourceGroup,
        workspace,
        name,
      });
      rotation.addEndpoint({ id: 'online', secretName: 's1', arm: at('SUB-1', 'ML-RG', 'ml-ws', 'e1') });
      rotation.addEndpoint({
        id: 'v1',
        kind: 'v1WebService',
        secretName: 's2',
        arm: at('sub-1', 'ml-rg', 'other-ws', 'svc'),
      });
      rotation.addEndpoint({ id: 'other-sub', secretName: 's3', arm: at('sub-2', 'ml-rg', 'ml-ws', 'e1') });
      rotation.addEndpoint({ id: 'longer-rg', secretName: 's4', arm: at('sub-1', 'ml-rg-2', 'ml-ws', 'e1') });

      // Act: the subject ARM gives the delete of the group itself (no provider segment)
      const result = await registrar.handle(armEvent('Delete', '/subscriptions/sub-1/resourcegroups/Ml-Rg'));

      // Assess
      expect(result.action).toBe('retired');
      expect([...rotation.retired].sort((a, b) => a.id.localeCompare(b.id))).toEqual([
        { id: 'online', at: '2026-11-23T02:00:00.000Z' },
        { id: 'v1', at: '2026-11-23T02:00:00.000Z' },
      ]);
    });

    it('checks the endpoints of a deleted resource group at ARM a few at a time, not one after another', async () => {
      // Prepare: 24 endpoints in three workspaces of the group; each ARM GET takes 50 ms
      const { rotation, describer, registrar } = build();
      for (let i = 0; i < 24; i += 1)
        rotation.addEndpoint({
          id: `ep-${String(i).padStart(2, '0')}`,
          secretName: `s${i}`,
          arm: { subscriptionId: 'sub-1', resourceGroup: 'ml-rg', workspace: `ws-${i % 3}`, name: `e${i}` },
        });
      describer.latencyMs = 50;

      // Act
      const started = Date.now();
      const result = await registrar.handle(armEvent('Delete', '/subscriptions/sub-1/resourceGroups/ml-rg'));
      const tookMs = Date.now() - started;

      // Assess: one after another would take 1.2 s of Event Grid's 30 s; a few at once, not all 24 at ARM
      expect(result.action).toBe('retired');
      expect(rotation.retired).toHaveLength(24);
      expect(describer.checked).toHaveLength(24);
      expect(describer.maxInFlight).toBeGreaterThan(1);
      expect(describer.maxInFlight).toBeLessThanOrEqual(8);
      expect(tookMs).toBeLessThan(600);
    });

    it('answers a delete with more endpoints than its time allows in time, for Event Grid to deliver it again, each delivery going further', async () => {
      // Prepare: 30 endpoints, 50 ms per ARM GET, 200 ms of time per delivery (the webhook's budget)
      const { rotation, describer, registrar } = build(true);
      for (let i = 0; i < 30; i += 1)
        rotation.addEndpoint({
          id: `ep-${String(i).padStart(2, '0')}`,
          secretName: `s${i}`,
          arm: armIn(`e${i}`),
        });
      describer.latencyMs = 50;
      const event = armEvent('Delete', WS);

      // Act: Event Grid delivers the event again after each 503, as it does
      const retiredAfter: number[] = [];
      const answeredInMs: number[] = [];
      let result;
      for (let delivery = 0; delivery < 10 && result === undefined; delivery += 1) {
        const started = Date.now();
        try {
          result = await registrar.handle(event, AbortSignal.timeout(200));
        } catch (error) {
          expect(isTransientError(error)).toBe(true);
        }
        answeredInMs.push(Date.now() - started);
        retiredAfter.push(rotation.retired.length);
      }

      // Assess: every delivery answered near its time and retired more; all 30 retired once each in the end
      expect(result?.action).toBe('retired');
      expect(retiredAfter.length).toBeGreaterThan(1);
      retiredAfter.forEach((n, i) => expect(n).toBeGreaterThan(retiredAfter[i - 1] ?? 0));
      answeredInMs.forEach((ms) => expect(ms).toBeLessThan(550));
      expect(new Set(rotation.retired.map((r) => r.id)).size).toBe(30);
      expect(rotation.retired).toHaveLength(30);
    });

    it('answers in time when ARM holds an existence check (a Retry-After wait), retiring nothing it did not hear about', async () => {
      // Prepare: ARM answers e1 after 3 s (throttled), e2 at once; 200 ms per delivery (the webhook's budget)
      const { rotation, describer, registrar } = build(true);
      rotation.addEndpoint({ id: 'held', secretName: 's1', arm: armIn('e1') });
      rotation.addEndpoint({ id: 'quick', secretName: 's2', arm: armIn('e2') });
      describer.slowMs.set('ml-ws/e1', 3000);

      // Act
      const started = Date.now();
      const own = registrar
        .handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`), AbortSignal.timeout(200))
        .catch((e: unknown) => e);
      const ownError = await own;
      const ownMs = Date.now() - started;
      const workspace = await registrar
        .handle(armEvent('Delete', WS), AbortSignal.timeout(200))
        .catch((e: unknown) => e);
      const allMs = Date.now() - started;

      // Assess: both answered (503: Event Grid delivers them again) well within Event Grid's 30 s
      expect(isTransientError(ownError)).toBe(true);
      expect(isTransientError(workspace)).toBe(true);
      expect(ownMs).toBeLessThan(1000);
      expect(allMs).toBeLessThan(2000);
      expect(rotation.retired.map((r) => r.id)).toEqual(['quick']);
    });

    it('leaves in service the endpoints of a deleted workspace or resource group registered after its delete', async () => {
      // Prepare: the group (and workspace) were re-created and one endpoint registered again before the
      // late delete events arrive
      const { rotation, registrar } = build();
      rotation.addEndpoint({
        id: 'old',
        secretName: 's1',
        arm: armIn('e1'),
        createdAt: '2026-11-01T00:00:00Z',
      });
      rotation.addEndpoint({
        id: 'new',
        secretName: 's2',
        arm: armIn('e2'),
        createdAt: '2026-11-23T01:58:00Z',
      });
      const group = '/subscriptions/sub-1/resourceGroups/ml-rg';
      const late = (resource: string, time: string) => ({ ...armEvent('Delete', resource), time });

      // Act: the group's delete at 01:55, then a workspace delete older still, once `old` is retired
      const groupDeleted = await registrar.handle(late(group, '2026-11-23T01:55:00Z'));
      const workspaceDeleted = await registrar.handle(late(WS, '2026-11-23T01:50:00Z'));

      // Assess
      expect([groupDeleted.action, workspaceDeleted.action]).toEqual(['retired', 'staleDelete']);
      expect(rotation.retired).toEqual([{ id: 'old', at: '2026-11-23T02:00:00.000Z' }]);
    });

    it('acknowledges the delete of a resource group without registered endpoints as not managed, and ignores its write', async () => {
      // Prepare
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({ id: 'elsewhere', secretName: 's1' });

      // Act
      const deleted = await registrar.handle(armEvent('Delete', '/subscriptions/sub-1/resourceGroups/ml-rg'));
      const written = await registrar.handle(armEvent('Write', '/subscriptions/sub-1/resourceGroups/ml-rg'));

      // Assess
      expect([deleted.action, written.action]).toEqual(['notManaged', 'ignored']);
      expect(rotation.retired).toHaveLength(0);
      expect(describer.described).toHaveLength(0);
    });

    it('ignores a write to a workspace (no endpoint to register)', async () => {
      // Prepare
      const { describer, registrar } = build();

      // Act
      const result = await registrar.handle(armEvent('Write', WS));

      // Assess
      expect(result.action).toBe('ignored');
      expect(describer.described).toHaveLength(0);
    });

    it('changes nothing when auto-registration is off', async () => {
      // Prepare
      const { rotation, registrar } = build(false);
      rotation.addEndpoint({
        id: 'e1',
        secretName: 's',
        arm: armIn('e1'),
      });

      // Act
      const result = await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));
      const workspace = await registrar.handle(armEvent('Delete', WS));
      const group = await registrar.handle(armEvent('Delete', '/subscriptions/sub-1/resourceGroups/ml-rg'));

      // Assess
      expect([result.action, workspace.action, group.action]).toEqual([
        'autoRegisterDisabled',
        'autoRegisterDisabled',
        'autoRegisterDisabled',
      ]);
      expect(rotation.retired).toHaveLength(0);
    });
  });
});

describe('Class: EndpointAutoRegistrar (an endpoint a newer version registered)', () => {
  // During a rolling deployment a newer version registered these with a kind or auth mode added since

  it('leaves an endpoint of a kind this version does not know in a deleted workspace to a version that knows it, retiring the rest', async () => {
    // Prepare: this version cannot tell which ARM resource an endpoint of that kind is, so cannot ask
    // whether ARM has it again (it would ask for an online endpoint of that name)
    const { rotation, describer, registrar } = build();
    rotation.addEndpoint({ id: 'known', secretName: 's1', arm: armIn('e1') });
    rotation.addEndpoint({
      id: 'newer',
      kind: 'managedComputeEndpoint' as unknown as 'onlineEndpoint',
      secretName: 's2',
      arm: armIn('e2'),
    });

    // Act
    const handled = registrar.handle(armEvent('Delete', WS));

    // Assess: a temporary refusal (the router answers 503 and Event Grid delivers the delete again,
    // perhaps to an instance that knows the kind), after the one it knows was retired
    await expect(handled).rejects.toBeInstanceOf(EndpointNotKnownHereError);
    await expect(handled).rejects.toMatchObject({ temporary: true });
    expect(rotation.retired.map((r) => r.id)).toEqual(['known']);
    expect(describer.checked).toEqual(['onlineEndpoint ml-ws/e1']);
  });

  it.each(['Key', 'ManagedIdentityToken'])(
    'leaves the reinstatement of a retired endpoint of an auth mode this version does not know to a version that knows it (ARM says %s)',
    async (armAuthMode) => {
      // Prepare: retired after its delete; the endpoint is created again at ARM
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({
        id: 'ml-ws-e1',
        authMode: 'ManagedIdentityToken' as unknown as 'Key',
        secretName: 's1',
        arm: armIn('e1'),
        retiredAt: '2026-11-22T00:00:00.000Z',
      });
      describer.add('ml-ws', 'e1', { authMode: armAuthMode, tags: { 'aml-credential-broker': 'rotate' } });

      // Act
      const handled = registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

      // Assess: neither reinstated with a drift job nor acknowledged as notKeyAuth by a version that cannot
      // tell whether that auth mode has keys
      await expect(handled).rejects.toBeInstanceOf(EndpointNotKnownHereError);
      await expect(handled).rejects.toMatchObject({ temporary: true });
      expect(rotation.reinstated).toEqual([]);
      expect(rotation.enqueued).toEqual([]);
      expect(rotation.registered).toEqual([]);
    },
  );

  it('counts an endpoint of an auth mode this version does not know still in service as registered', async () => {
    const { rotation, describer, registrar } = build();
    rotation.addEndpoint({
      id: 'ml-ws-e1',
      authMode: 'ManagedIdentityToken' as unknown as 'Key',
      secretName: 's1',
      arm: armIn('e1'),
    });
    describer.add('ml-ws', 'e1', { authMode: 'Key', tags: { 'aml-credential-broker': 'rotate' } });

    const result = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

    expect(result).toMatchObject({ action: 'alreadyRegistered', endpointId: 'ml-ws-e1' });
  });
});

describe('Class: EndpointAutoRegistrar (a registration for tokens, made by hand)', () => {
  // The broker serves tokens for AMLToken and AADToken endpoints; none is registered from an event, so a
  // retired one was registered by hand, and retired by a delete (the only writer of retiredAt)

  it.each(['AMLToken', 'AADToken'] as const)(
    'reinstates a retired %s endpoint re-created with the same auth mode, without a drift job or the opt-in tag',
    async (authMode) => {
      // Prepare: registered by hand (untagged at ARM), deleted in Azure (retired here), created again
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({ id: 'scorer', authMode, secretName: 'unused', arm: armIn('e1') });
      await registrar.handle(armEvent('Delete', `${WS}/onlineEndpoints/e1`));
      describer.add('ml-ws', 'e1', { authMode, tags: {} });

      // Act: the re-creation's write, then a second delivery of it
      const written = await registrar.handle({
        ...armEvent('Write', `${WS}/onlineEndpoints/e1`),
        id: 'again',
      });
      const twin = await registrar.handle({ ...armEvent('Write', `${WS}/onlineEndpoints/e1`), id: 'twin' });

      // Assess: served again without a DELETE and POST by hand; no key, so no drift check and no rotation
      expect(rotation.retired.map((r) => r.id)).toEqual(['scorer']);
      expect(written).toMatchObject({ action: 'reinstated', endpointId: 'scorer' });
      expect(twin).toMatchObject({ action: 'alreadyRegistered', endpointId: 'scorer' });
      expect(rotation.reinstated).toEqual(['scorer']);
      expect(rotation.endpoints.find((e) => e.id === 'scorer')?.retiredAt).toBeUndefined();
      expect(rotation.enqueued).toEqual([]);
      expect(rotation.registered).toEqual([]);
    },
  );

  it.each([
    ['AMLToken', 'AADToken'],
    ['AADToken', 'AMLToken'],
    ['AMLToken', 'Key'],
    ['AADToken', 'Key'],
  ] as const)(
    'leaves a retired %s endpoint retired when it is re-created with %s, saying why',
    async (registered, atArm) => {
      // Prepare: tagged at ARM, so that a Key endpoint would be registered
      const logged: Array<[string, Record<string, unknown> | undefined]> = [];
      const { rotation, describer, registrar } = build(true, {
        logger: { ...silentLogger, warn: (message, props) => void logged.push([message, props]) },
      });
      rotation.addEndpoint({
        id: 'scorer',
        authMode: registered,
        secretName: 'unused',
        arm: armIn('e1'),
        retiredAt: '2026-11-22T00:00:00.000Z',
      });
      describer.add('ml-ws', 'e1', { authMode: atArm, tags: { 'aml-credential-broker': 'rotate' } });

      // Act
      const result = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

      // Assess: its clients are refused on, rather than served tokens of a mode it was not registered for
      expect(result).toMatchObject({ action: 'authModeChanged', endpointId: 'scorer' });
      expect(rotation.reinstated).toEqual([]);
      expect(rotation.enqueued).toEqual([]);
      expect(rotation.registered).toEqual([]);
      expect(logged).toEqual([
        [
          expect.stringContaining('auth mode') as unknown,
          { endpointId: 'scorer', registeredAuthMode: registered, armAuthMode: atArm },
        ],
      ]);
    },
  );

  it('leaves a retired token endpoint retired while ARM still has no endpoint (a write delivered after the delete)', async () => {
    // Prepare
    const { rotation, registrar } = build();
    rotation.addEndpoint({
      id: 'scorer',
      authMode: 'AMLToken',
      secretName: 'unused',
      arm: armIn('e1'),
      retiredAt: '2026-11-22T00:00:00.000Z',
    });

    // Act
    const result = await registrar.handle(armEvent('Write', `${WS}/onlineEndpoints/e1`));

    // Assess
    expect(result.action).toBe('notAnOnlineEndpoint');
    expect(rotation.reinstated).toEqual([]);
  });

  it.each([
    ['AADToken', 'Aad', 'reinstated'],
    ['AADToken', 'KeyAndAad', 'reinstated'],
    ['AADToken', 'Key', 'authModeChanged'],
    ['AMLToken', 'Aad', 'authModeChanged'],
    ['AMLToken', 'Key', 'authModeChanged'],
  ] as const)(
    'answers the write of a retired %s serverless endpoint ARM has again with %s: %s, no drift job',
    async (registered, atArm, action) => {
      // Prepare
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({
        id: 'llm',
        kind: 'serverlessEndpoint',
        authMode: registered,
        secretName: 's1',
        arm: armIn('llm'),
        retiredAt: '2026-11-22T00:00:00.000Z',
      });
      describer.addServerless('ml-ws', 'llm', atArm);

      // Act
      const result = await registrar.handle(armEvent('Write', `${WS}/serverlessEndpoints/llm`));

      // Assess
      expect(result).toMatchObject({ action, endpointId: 'llm' });
      expect(rotation.reinstated).toEqual(action === 'reinstated' ? ['llm'] : []);
      expect(rotation.enqueued).toEqual([]);
    },
  );

  it.each(['KeyAndAAD', 'KeyAndAad', 'key'])(
    'leaves a retired Key serverless endpoint ARM has again with %s retired (notKeyAuth): the rotator and a registration refuse it',
    async (atArm) => {
      // Prepare
      const { rotation, describer, registrar } = build();
      rotation.addEndpoint({
        id: 'llm',
        kind: 'serverlessEndpoint',
        secretName: 's1',
        arm: armIn('llm'),
        retiredAt: '2026-11-22T00:00:00.000Z',
      });
      describer.addServerless('ml-ws', 'llm', atArm);

      // Act
      const result = await registrar.handle(armEvent('Write', `${WS}/serverlessEndpoints/llm`));

      // Assess: taken back, every run would fail AUTH_MODE_NOT_KEY, as a POST of it now answers
      expect(result).toMatchObject({ action: 'notKeyAuth', endpointId: 'llm' });
      expect(() => requireKeyAuthAt('llm', atArm)).toThrow(AuthModeNotKeyError);
      expect(rotation.reinstated).toEqual([]);
      expect(rotation.enqueued).toEqual([]);
    },
  );

  it('leaves the reinstatement of a retired serverless endpoint of an auth mode this version does not know to a version that knows it', async () => {
    // Prepare: a newer version registered it (a rolling deployment)
    const { rotation, describer, registrar } = build();
    rotation.addEndpoint({
      id: 'llm',
      kind: 'serverlessEndpoint',
      authMode: 'ManagedIdentityToken' as unknown as 'Key',
      secretName: 's1',
      arm: armIn('llm'),
      retiredAt: '2026-11-22T00:00:00.000Z',
    });
    describer.addServerless('ml-ws', 'llm', 'Key');

    // Act
    const handled = registrar.handle(armEvent('Write', `${WS}/serverlessEndpoints/llm`));

    // Assess: temporary (503), neither reinstated with a drift job nor acknowledged
    await expect(handled).rejects.toBeInstanceOf(EndpointNotKnownHereError);
    expect(rotation.reinstated).toEqual([]);
    expect(rotation.enqueued).toEqual([]);
  });
});
