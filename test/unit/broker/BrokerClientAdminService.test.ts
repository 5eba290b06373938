import {
  ClientChangedError,
  ClientRecordUnreadableError,
  InvalidClientError,
} from '../../../shared/broker/errors';
import { ConflictError, NotFoundError, ValidationError } from '../../../shared/errors';
import { buildTestBroker } from '../../fakes/broker/buildTestBroker';
import { scopesStoredAs } from '../../support/tableLimitInputs';

describe('Class: BrokerClientAdminService', () => {
  describe('Method: create', () => {
    it('returns both secrets once and stores only their HMACs', async () => {
      // Prepare
      const t = buildTestBroker();

      // Act
      const created = await t.module.admin.create({
        id: 'legacy-app',
        displayName: 'Legacy app',
        allowedScopes: ['demo-token/.default', 'https://ml.azure.com/'],
        rateLimitPerMinute: 120,
      });

      // Assess
      expect(created.primarySecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(created.secondarySecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(created.primarySecret).not.toBe(created.secondarySecret);
      expect(created.client).toMatchObject({
        id: 'legacy-app',
        allowedScopes: ['demo-token', 'https://ml.azure.com'],
        rateLimitPerMinute: 120,
        enabled: true,
        keyAccess: false,
      });
      const stored = JSON.stringify([...t.registry.records.values()]);
      expect(stored).not.toContain(created.primarySecret);
      expect(stored).not.toContain(created.secondarySecret);
      expect(JSON.stringify(created.client)).not.toMatch(/SecretHash/);
    });

    it('generates an id when none is given', async () => {
      // Prepare
      const t = buildTestBroker();

      // Act
      const created = await t.module.admin.create({ displayName: 'x', allowedScopes: ['demo-token'] });

      // Assess
      expect(created.client.id).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('names every invalid field, including unknown ones', async () => {
      // Prepare
      const t = buildTestBroker();

      // Act
      const error = (await t.module.admin
        .create({
          id: '!',
          displayName: '',
          allowedScopes: ['http://insecure'],
          rateLimitPerMinute: 0,
          colour: 'red',
        })
        .catch((e: unknown) => e)) as ValidationError;

      // Assess
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.issues.map((i) => i.field).sort()).toEqual(
        ['allowedScopes', 'colour', 'displayName', 'id', 'rateLimitPerMinute'].sort(),
      );
    });

    it('refuses a grant of an endpoint id no endpoint can have, by the endpoint registry’s own rule', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();

      // Act: two characters, a trailing hyphen, a double one: ids the registry refuses
      const refusals = await Promise.all(
        ['ab', 'churn-', 'a--b'].map((id) =>
          t.module.admin
            .create({ displayName: 'x', allowedScopes: ['demo-token', id] })
            .catch((e: unknown) => e),
        ),
      );
      const patched = await t.module.admin
        .update(c.id, { allowedScopes: ['demo-'] })
        .catch((e: unknown) => e);

      // Assess
      for (const error of [...refusals, patched]) {
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['allowedScopes']);
      }
      expect(t.registry.records.size).toBe(1);
    });

    it('says which grant it refuses and by what rule, by position rather than by echoing it', async () => {
      // Prepare: a newcomer's typical grants: an id with a capital, one with an underscore, a plain-http URI
      const t = buildTestBroker();
      const c = await t.addClient();

      // Act
      const created = (await t.module.admin
        .create({ displayName: 'x', allowedScopes: ['fraud', 'Churn'] })
        .catch((e: unknown) => e)) as ValidationError;
      const patched = (await t.module.admin
        .update(c.id, { allowedScopes: ['churn_v2', 'fraud'] })
        .catch((e: unknown) => e)) as ValidationError;
      const notText = (await t.module.admin
        .create({ displayName: 'x', allowedScopes: ['fraud', 'churn', 42] })
        .catch((e: unknown) => e)) as ValidationError;

      // Assess
      for (const [error, index] of [
        [created, 1],
        [patched, 0],
        [notText, 2],
      ] as const) {
        expect(error).toBeInstanceOf(ValidationError);
        expect(error.issues.map((i) => i.field)).toEqual(['allowedScopes']);
        expect(error.message).toContain(`allowedScopes[${index}] is neither`);
        expect(error.message).toContain('3-63 lowercase letters, digits and single hyphens');
        expect(error.message).toContain('https://');
      }
      expect(created.message).not.toContain('Churn');
      expect(patched.message).not.toContain('churn_v2');
      expect(t.registry.records.size).toBe(1);
    });

    it('refuses scopes that would not fit one Table storage property, naming the field and the limit', async () => {
      // Prepare: one character over the property as stored, and the reviewer's 100 scopes of 490 characters
      const t = buildTestBroker();
      const over = scopesStoredAs(32_769);
      const long = Array.from({ length: 100 }, (_, i) => `https://s${i}.example.com/${'a'.repeat(470)}`);

      // Act
      const error = (await t.module.admin
        .create({ id: 'over-scopes', displayName: 'x', allowedScopes: over })
        .catch((e: unknown) => e)) as ValidationError;
      const reported = (await t.module.admin
        .create({ id: 'long-scopes', displayName: 'x', allowedScopes: long })
        .catch((e: unknown) => e)) as ValidationError;

      // Assess
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.status).toBe(400);
      expect(error.issues.map((i) => i.field)).toEqual(['allowedScopes']);
      expect(error.message).toMatch(/at most 32768 characters as stored.*32769 here/);
      expect(reported.issues.map((i) => i.field)).toEqual(['allowedScopes']);
      expect(t.registry.records.size).toBe(0);
    });

    it("refuses resource scopes whose token would carry the broker's own rights, naming them", async () => {
      // Prepare
      const t = buildTestBroker();
      const privileged = [
        'https://management.azure.com/.default',
        'https://vault.azure.net',
        'https://myvault.vault.azure.net',
        'https://storage.azure.com/',
        'https://acct.table.core.windows.net',
        'https://eventgrid.azure.net',
      ];

      // Act
      const error = (await t.module.admin
        .create({
          id: 'too-mighty',
          displayName: 'x',
          allowedScopes: [...privileged, 'https://ml.azure.com'],
        })
        .catch((e: unknown) => e)) as ValidationError;
      const fine = await t.module.admin.create({
        id: 'just-ml',
        displayName: 'x',
        allowedScopes: ['https://ml.azure.com', 'https://cognitiveservices.azure.com', 'demo-token'],
      });

      // Assess
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.issues).toEqual([
        {
          field: 'allowedScopes',
          message:
            "must not name https://management.azure.com, https://vault.azure.net, https://myvault.vault.azure.net, https://storage.azure.com, https://acct.table.core.windows.net, https://eventgrid.azure.net: a token for it would carry the broker's own rights (ARM, Key Vault, Storage, Event Grid), not the client's",
        },
      ]);
      expect(fine.client.allowedScopes).toHaveLength(3);
    });

    it('takes expiresAt only as an ISO 8601 date-time with an offset, on a real date', async () => {
      // Prepare
      const t = buildTestBroker();
      const refused = [
        '1',
        '2026-02-31T00:00:00Z',
        '2027-02-29T00:00:00Z',
        '12/31/2030',
        '2030-12-31',
        '2030-12-31T00:00:00',
        '2030-12-31T24:00:00Z',
        '2030-12-31 00:00:00Z',
        'Tue Dec 31 2030 00:00:00 GMT+0000',
      ];
      const create = (id: string, expiresAt: unknown) =>
        t.module.admin.create({ id, displayName: 'x', allowedScopes: ['demo-token'], expiresAt });

      // Act
      const errors = await Promise.all(
        refused.map((at, i) => create(`refused-${i}`, at).catch((e: unknown) => e)),
      );
      const offset = await create('offset', '2030-12-31T23:59:59.25+02:00');
      const leapDay = await create('leap-day', '2028-02-29T00:00:00Z');
      const patched = await t.module.admin.update('leap-day', { expiresAt: '1' }).catch((e: unknown) => e);
      // In UTC these fall in the years 10000 and -1, which no ISO 8601 date-time (kept in UTC) can name:
      // stored, they came back as "+010000-01-01T13:59:59.000Z", which this API itself then refused.
      const outOfRange = await Promise.all(
        ['9999-12-31T23:59:59-14:00', '0000-01-01T00:00:00+14:00'].map((at, i) =>
          create(`range-${i}`, at).catch((e: unknown) => e),
        ),
      );
      const lastDay = await create('last-day', '9999-12-31T23:59:59Z');

      // Assess
      expect(outOfRange.map((e) => (e instanceof ValidationError ? e.issues : e))).toEqual(
        outOfRange.map(() => [
          {
            field: 'expiresAt',
            message: 'must fall between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z once kept in UTC',
          },
        ]),
      );
      expect(lastDay.client.expiresAt).toBe('9999-12-31T23:59:59.000Z');
      const fields = errors.map((e) => (e instanceof ValidationError ? e.issues.map((i) => i.field) : e));
      expect(fields).toEqual(refused.map(() => ['expiresAt']));
      expect(offset.client.expiresAt).toBe('2030-12-31T21:59:59.250Z');
      expect(leapDay.client.expiresAt).toBe('2028-02-29T00:00:00.000Z');
      expect(patched).toBeInstanceOf(ValidationError);
      expect((await t.module.admin.get('leap-day')).expiresAt).toBe('2028-02-29T00:00:00.000Z');
    });

    it('refuses an id that starts with ".", "_" or "-", saying it must start with a letter or digit', async () => {
      // Prepare
      const t = buildTestBroker();

      // Act
      const errors = await Promise.all(
        ['_svc-account', '.hidden', '-dash'].map(
          (id) =>
            t.module.admin
              .create({ id, displayName: 'x', allowedScopes: ['demo-token'] })
              .catch((e: unknown) => e) as Promise<ValidationError>,
        ),
      );

      // Assess: the message names the rule the id broke, not only rules it keeps
      for (const error of errors) {
        expect(error).toBeInstanceOf(ValidationError);
        expect(error.issues).toEqual([
          { field: 'id', message: expect.stringContaining('starting with a letter or digit') as unknown },
        ]);
      }
    });

    it('refuses a taken id', async () => {
      // Prepare
      const t = buildTestBroker();
      await t.addClient({ id: 'same-id' });

      // Act
      const again = t.addClient({ id: 'same-id' });

      // Assess
      await expect(again).rejects.toThrow(ConflictError);
    });

    it('refuses an id that differs from a taken one only in case, naming the taken id', async () => {
      // Prepare: a GUID registered in lower case, as a client of managed identity would copy it
      const t = buildTestBroker();
      await t.addClient({ id: '6f1c0e2a-aaaa-bbbb-cccc-0123456789ab' });

      // Act
      const error = (await t
        .addClient({ id: '6F1C0E2A-AAAA-BBBB-CCCC-0123456789AB' })
        .catch((e: unknown) => e)) as ConflictError;

      // Assess
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.message).toContain('6f1c0e2a-aaaa-bbbb-cccc-0123456789ab');
      expect(t.registry.records.size).toBe(1);
    });
  });

  describe('Method: listPage and get', () => {
    it('never return a secret or a hash', async () => {
      // Prepare
      const t = buildTestBroker();
      const a = await t.addClient();
      const b = await t.addClient();

      // Act
      const listed = JSON.stringify(await t.module.admin.listPage({ top: 100 }));
      const one = JSON.stringify(await t.module.admin.get(a.id));

      // Assess
      for (const text of [listed, one]) {
        for (const secret of [a.primary, a.secondary, b.primary, b.secondary])
          expect(text).not.toContain(secret);
        for (const record of t.registry.records.values()) {
          expect(text).not.toContain(record.primarySecretHash);
          expect(text).not.toContain(record.secondarySecretHash);
        }
        expect(text).not.toMatch(/[Ss]ecret/);
      }
    });

    it('get of an unknown id is NotFound', async () => {
      // Prepare
      const t = buildTestBroker();

      // Act
      const attempt = t.module.admin.get('nobody');

      // Assess
      await expect(attempt).rejects.toThrow(NotFoundError);
    });
  });

  describe('Method: update', () => {
    it('changes scopes and limits and clears them with null', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient({ rateLimitPerMinute: 5, expiresAt: '2027-01-01T00:00:00Z' });

      // Act
      const updated = await t.module.admin.update(c.id, {
        allowedScopes: ['demo-aad'],
        rateLimitPerMinute: null,
        expiresAt: null,
        keyAccess: true,
      });

      // Assess
      expect(updated.allowedScopes).toEqual(['demo-aad']);
      expect(updated.rateLimitPerMinute).toBeUndefined();
      expect(updated.expiresAt).toBeUndefined();
      expect(updated.keyAccess).toBe(true);
    });

    it('refuses to change the id', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();

      // Act
      const attempt = t.module.admin.update(c.id, { id: 'other' });

      // Assess
      await expect(attempt).rejects.toThrow(ValidationError);
    });
  });

  describe('Method: regenerate', () => {
    it('replaces one secret, returns it once, and leaves the other working', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();
      const vend = (secret: string) =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret, scope: 'demo-token' });

      // Act
      const regenerated = await t.module.admin.regenerate(c.id, 'primary');

      // Assess
      expect(regenerated.slot).toBe('primary');
      expect(regenerated.secret).not.toBe(c.primary);
      await expect(vend(c.primary)).rejects.toThrow(InvalidClientError);
      await expect(vend(regenerated.secret)).resolves.toBeDefined();
      await expect(vend(c.secondary)).resolves.toBeDefined();
      expect(JSON.stringify(await t.module.admin.get(c.id))).not.toContain(regenerated.secret);
    });
  });

  describe('Concurrent changes', () => {
    it('keeps both a secret regenerated and a scope change made while it was being written', async () => {
      // Prepare: a scope change lands between the regeneration's read and its write
      const t = buildTestBroker();
      const c = await t.addClient();
      t.registry.beforeUpdate = async () => {
        await t.module.admin.update(c.id, { allowedScopes: ['demo-token', 'demo-aad'] });
      };

      // Act
      const regenerated = await t.module.admin.regenerate(c.id, 'primary');

      // Assess
      expect(t.registry.beforeUpdate).toBeUndefined();
      expect((await t.module.admin.get(c.id)).allowedScopes).toEqual(['demo-token', 'demo-aad']);
      await expect(
        t.module.broker.vend({
          protocol: 'oauth',
          clientId: c.id,
          secret: regenerated.secret,
          scope: 'demo-aad',
        }),
      ).resolves.toBeDefined();
    });

    it('keeps both secrets when the primary and the secondary are regenerated at once', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();
      let secondary = '';
      t.registry.beforeUpdate = async () => {
        secondary = (await t.module.admin.regenerate(c.id, 'secondary')).secret;
      };

      // Act
      const primary = (await t.module.admin.regenerate(c.id, 'primary')).secret;

      // Assess
      const vend = (secret: string) =>
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret, scope: 'demo-token' });
      await expect(vend(primary)).resolves.toBeDefined();
      await expect(vend(secondary)).resolves.toBeDefined();
      await expect(vend(c.secondary)).rejects.toThrow(InvalidClientError);
    });

    it('answers 409 ClientChanged when other writes keep coming first', async () => {
      // Prepare: every attempt finds the client changed
      const t = buildTestBroker();
      const c = await t.addClient();
      let interleaved = 0;
      const interleave = async (): Promise<void> => {
        interleaved++;
        t.registry.records.set(c.id, { ...t.registry.records.get(c.id)!, version: `other-${interleaved}` });
        t.registry.beforeUpdate = interleave;
      };
      t.registry.beforeUpdate = interleave;

      // Act
      const error = await t.module.admin.update(c.id, { enabled: false }).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ClientChangedError);
      expect(error).toMatchObject({ status: 409, code: 'ClientChanged' });
      expect(interleaved).toBe(5);
      expect((await t.module.admin.get(c.id)).enabled).toBe(true);
    });
  });

  describe('A client whose row cannot be read (edited by hand)', () => {
    /** A client, then its row edited into one whose `allowedScopes` and `enabled` this version cannot read. */
    async function editedByHand() {
      const t = buildTestBroker();
      const c = await t.addClient({ id: 'hand-edited' });
      const before = t.registry.records.get(c.id)!;
      t.registry.unreadable.set(c.id, ['allowedScopes', 'enabled']);
      return { t, c, before };
    }

    it.each([
      ['GET', (t: ReturnType<typeof buildTestBroker>) => t.module.admin.get('hand-edited')],
      [
        'PATCH',
        (t: ReturnType<typeof buildTestBroker>) => t.module.admin.update('hand-edited', { displayName: 'y' }),
      ],
      [
        'disable',
        (t: ReturnType<typeof buildTestBroker>) => t.module.admin.update('hand-edited', { enabled: false }),
      ],
      [
        'regenerate',
        (t: ReturnType<typeof buildTestBroker>) => t.module.admin.regenerate('hand-edited', 'primary'),
      ],
    ])(
      '%s answers 409 CLIENT_RECORD_UNREADABLE naming the id and the columns, and writes nothing',
      async (_, call) => {
        // Prepare
        const { t, before } = await editedByHand();

        // Act
        const error = await call(t).catch((e: unknown) => e);

        // Assess
        expect(error).toBeInstanceOf(ClientRecordUnreadableError);
        expect(error).toMatchObject({
          status: 409,
          code: 'CLIENT_RECORD_UNREADABLE',
          fields: ['allowedScopes', 'enabled'],
        });
        expect((error as Error).message).toMatch(
          /hand-edited .*allowedScopes \(a String holding a JSON array of strings\), enabled \(a Boolean\)/,
        );
        expect(t.registry.records.get('hand-edited')).toEqual(before);
      },
    );

    it('DELETE removes it, and its id can be created again', async () => {
      // Prepare
      const { t } = await editedByHand();

      // Act
      await t.module.admin.delete('hand-edited');
      await t.addClient({ id: 'hand-edited' });

      // Assess
      expect((await t.module.admin.get('hand-edited')).id).toBe('hand-edited');
    });

    it('the list leaves it out of the items and names it in unreadable with what a GET answers', async () => {
      // Prepare: one readable client on each side of it
      const { t } = await editedByHand();
      await t.addClient({ id: 'aaa-first' });
      await t.addClient({ id: 'zzz-last' });
      const get = (await t.module.admin
        .get('hand-edited')
        .catch((e: unknown) => e)) as ClientRecordUnreadableError;

      // Act
      const page = await t.module.admin.listPage({ top: 100 });

      // Assess
      expect(page.items.map((c) => c.id)).toEqual(['aaa-first', 'zzz-last']);
      expect(page.unreadable).toEqual([
        { id: 'hand-edited', code: 'CLIENT_RECORD_UNREADABLE', message: get.message },
      ]);
    });

    it('a page of clean rows has no unreadable member', async () => {
      // Prepare
      const t = buildTestBroker();
      await t.addClient({ id: 'clean-one' });

      // Act
      const page = await t.module.admin.listPage({ top: 100 });

      // Assess
      expect(page).not.toHaveProperty('unreadable');
    });

    it('its id, in another case, is refused on create as taken', async () => {
      // Prepare
      const { t } = await editedByHand();

      // Act
      const error = await t.addClient({ id: 'HAND-EDITED' }).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toContain('hand-edited already exists');
    });

    it('its token requests are refused as a wrong secret’s, with its right secret too', async () => {
      // Prepare
      const { t, c } = await editedByHand();

      // Act
      const attempt = t.module.broker.vend({
        protocol: 'oauth',
        clientId: c.id,
        secret: c.primary,
        scope: 'demo-token',
      });

      // Assess
      await expect(attempt).rejects.toThrow(InvalidClientError);
    });
  });

  describe('Method: delete', () => {
    it('removes the client so it can no longer authenticate', async () => {
      // Prepare
      const t = buildTestBroker();
      const c = await t.addClient();

      // Act
      await t.module.admin.delete(c.id);

      // Assess
      await expect(t.module.admin.get(c.id)).rejects.toThrow(NotFoundError);
      await expect(
        t.module.broker.vend({ protocol: 'oauth', clientId: c.id, secret: c.primary, scope: 'demo-token' }),
      ).rejects.toThrow(InvalidClientError);
      await expect(t.module.admin.delete(c.id)).rejects.toThrow(NotFoundError);
    });
  });
});
