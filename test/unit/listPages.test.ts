import { HttpRequest } from '@azure/functions';

import { ValidationError } from '../../shared/errors';
import {
  DEFAULT_PAGE_SIZE,
  eachListed,
  listedPage,
  type ListName,
  MAX_PAGE_SIZE,
  pageBody,
  type PageRequest,
  readPageRequest,
} from '../../shared/listPages';
import { keyPage } from '../fakes/keyPage';

const get = (query: string): HttpRequest =>
  new HttpRequest({ method: 'GET', url: `https://app.example/api/manage/endpoints${query}` });

/** The `$skipToken` of the nextLink a page ending at `after` answers. */
function tokenAfter(after: string, list: ListName = 'endpoints'): string {
  const { nextLink } = pageBody(get(''), list, { top: 5 }, { items: [], after });
  return new URL(nextLink!).searchParams.get('$skipToken')!;
}

/** The fields a refused request names. */
function refusedFields(read: () => unknown): string[] {
  try {
    read();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues.map((i) => i.field);
    throw error;
  }
  throw new Error('not refused');
}

describe('Module: listPages', () => {
  describe('Function: readPageRequest', () => {
    it(`reads the first page of ${DEFAULT_PAGE_SIZE} when no parameter is given`, () => {
      expect(readPageRequest(get(''), 'endpoints')).toEqual({ top: DEFAULT_PAGE_SIZE });
    });

    it('reads $top from 1 to the maximum', () => {
      expect(readPageRequest(get('?$top=1'), 'endpoints')).toEqual({ top: 1 });
      expect(readPageRequest(get(`?%24top=${MAX_PAGE_SIZE}`), 'endpoints')).toEqual({ top: MAX_PAGE_SIZE });
    });

    it.each(['0', String(MAX_PAGE_SIZE + 1), '-1', '1e2', '2.5', ' 5', 'ten', '', '99999999999999999999'])(
      'refuses $top=%p with a 400 naming $top',
      (value) => {
        expect(refusedFields(() => readPageRequest(get(`?$top=${value}`), 'endpoints'))).toEqual(['$top']);
      },
    );

    it.each([
      ['top=5', 'top', '$top'],
      ['$Top=5', '$Top', '$top'],
      ['skipToken=abc', 'skipToken', '$skipToken'],
      ['$skiptoken=abc', '$skiptoken', '$skipToken'],
    ])('refuses ?%s, which would be ignored, naming the parameter meant', (query, field, meant) => {
      // Act
      let refused: unknown;
      try {
        readPageRequest(get(`?${query}`), 'endpoints');
      } catch (error) {
        refused = error;
      }

      // Assert
      expect(refused).toBeInstanceOf(ValidationError);
      const issues = (refused as ValidationError).issues;
      expect(issues.map((i) => i.field)).toEqual([field]);
      expect(issues[0]!.message).toContain(meant);
    });

    it('refuses a $top given twice rather than guess which was meant', () => {
      expect(refusedFields(() => readPageRequest(get('?$top=5&$top=50'), 'endpoints'))).toEqual(['$top']);
    });

    it('reads back the key a nextLink of the same list carries', () => {
      // Act
      const page = readPageRequest(get(`?$top=5&$skipToken=${tokenAfter('ep-042')}`), 'endpoints');

      // Assess
      expect(page).toEqual({ top: 5, after: 'ep-042' });
    });

    it('reads back a key with characters OData and URLs escape', () => {
      const after = "o'brien & co+1 é";
      expect(readPageRequest(get(`?$skipToken=${tokenAfter(after)}`), 'endpoints').after).toBe(after);
    });

    const token = tokenAfter('ep-042');
    const other = (json: unknown) => Buffer.from(JSON.stringify(json)).toString('base64url');
    it.each([
      ['not base64url', '%%%garbage'],
      ['a character changed', `${token.slice(0, 5)}${token[5] === 'A' ? 'B' : 'A'}${token.slice(6)}`],
      ['cut short', token.slice(0, -3)],
      ['with stray bits', `${token}A`],
      ['empty', ''],
      ['given twice', `${token}&$skipToken=${token}`],
      ['of the clients list', tokenAfter('ep-042', 'clients')],
      ['of another version', other({ v: 2, list: 'endpoints', after: 'ep-042' })],
      ['naming no key', other({ v: 1, list: 'endpoints', after: '' })],
      ['naming a key storage refuses', other({ v: 1, list: 'endpoints', after: 'a/b' })],
      ['naming a number', other({ v: 1, list: 'endpoints', after: 42 })],
      ['of JSON that is no object', other(null)],
      ['far too long', 'A'.repeat(5000)],
    ])('refuses a $skipToken %s with a 400 naming $skipToken, never a 500', (_what, value) => {
      expect(refusedFields(() => readPageRequest(get(`?$skipToken=${value}`), 'endpoints'))).toEqual([
        '$skipToken',
      ]);
    });

    it('names both parameters at once when both are bad', () => {
      expect(refusedFields(() => readPageRequest(get('?$top=0&$skipToken=x'), 'endpoints'))).toEqual([
        '$top',
        '$skipToken',
      ]);
    });
  });

  describe('Function: pageBody', () => {
    it('answers the last page with value only', () => {
      expect(pageBody(get(''), 'endpoints', { top: 5 }, { items: [1, 2] })).toEqual({ value: [1, 2] });
    });

    it('links the next page absolutely, with $top and $skipToken only: never the key a caller sent as code', () => {
      // Act
      const body = pageBody(
        get('?code=admin-key-value&$top=2&other=1'),
        'endpoints',
        { top: 2 },
        { items: [1, 2], after: 'ep-2' },
      );

      // Assess
      const next = new URL(body.nextLink!);
      expect(body.value).toEqual([1, 2]);
      expect(`${next.origin}${next.pathname}`).toBe('https://app.example/api/manage/endpoints');
      expect([...next.searchParams.keys()]).toEqual(['$top', '$skipToken']);
      expect(body.nextLink).toContain('?$top=2&$skipToken=');
      expect(body.nextLink).not.toContain('admin-key-value');
      expect(readPageRequest(get(next.search), 'endpoints')).toEqual({ top: 2, after: 'ep-2' });
    });
  });
  describe('Function: pageBody of a page that skipped records', () => {
    const skipped = [
      { id: 'ep-3', code: 'ENDPOINT_RECORD_UNREADABLE', message: 'Endpoint ep-3 is stored …' },
    ];

    it('names them beside value, on the last page and on one that links the next', () => {
      // Act
      const last = pageBody(get(''), 'endpoints', { top: 5 }, { items: [1], unreadable: skipped });
      const empty = pageBody(
        get(''),
        'endpoints',
        { top: 2 },
        { items: [], unreadable: skipped, after: 'ep-4' },
      );

      // Assess: value stays the records; a page of skipped records only still links the next
      expect(last).toEqual({ value: [1], unreadable: skipped });
      expect(empty.value).toEqual([]);
      expect(empty.unreadable).toEqual(skipped);
      expect(readPageRequest(get(new URL(empty.nextLink!).search), 'endpoints')).toEqual({
        top: 2,
        after: 'ep-4',
      });
    });

    it('leaves the member out when none was skipped, so a clean page is the body it always was', () => {
      expect(pageBody(get(''), 'clients', { top: 5 }, { items: [1], unreadable: [] })).toEqual({
        value: [1],
      });
    });
  });

  describe('Function: pageBody behind a gateway', () => {
    it('links the next page under the public base URL, not the Functions host the request reached', () => {
      // Act
      const body = pageBody(
        get('?$top=2'),
        'clients',
        { top: 2 },
        { items: [1, 2], after: 'c-2' },
        'https://apim.contoso.com/aml-broker',
      );

      // Assess
      const next = new URL(body.nextLink!);
      expect(`${next.origin}${next.pathname}`).toBe('https://apim.contoso.com/aml-broker/manage/clients');
      expect(readPageRequest(get(next.search), 'clients')).toEqual({ top: 2, after: 'c-2' });
    });
  });

  describe('Function: listedPage', () => {
    it('names each skipped row with the code and message a read of it answers, and nothing of the row else', () => {
      // Prepare: a skipped row carries what the registry knows of it (here a field name and its content)
      const skipped = [{ id: 'ep-1', why: 'probe', row: 'hand-edited content' }];
      const readError = ({ id, why }: { id: string; why: string }) =>
        Object.assign(new Error(`${id} cannot be read: ${why}`), { code: 'RECORD_UNREADABLE' });

      // Act
      const page = listedPage({ items: ['ep-0'], after: 'ep-1' }, skipped, readError);

      // Assess
      expect(page).toEqual({
        items: ['ep-0'],
        after: 'ep-1',
        unreadable: [{ id: 'ep-1', code: 'RECORD_UNREADABLE', message: 'ep-1 cannot be read: probe' }],
      });
    });

    it.each([undefined, []])('leaves unreadable out when the page skipped none (%p)', (skipped) => {
      const readError = (): never => {
        throw new Error('no row to name');
      };
      expect(listedPage<string, { id: string }>({ items: ['ep-0'] }, skipped, readError)).toEqual({
        items: ['ep-0'],
      });
    });
  });

  describe('Function: eachListed', () => {
    const records = Array.from({ length: 12 }, (_, i) => ({ id: `r-${String(i).padStart(2, '0')}` }));

    it('yields every record once, in key order, following short pages to the last', async () => {
      // Prepare: storage answers 5 records at most, whatever the page asks
      const asked: PageRequest[] = [];
      const listPage = async (request: PageRequest) => (asked.push(request), keyPage(records, request, 5));

      // Act
      const seen: string[] = [];
      for await (const record of eachListed(listPage, 8)) seen.push(record.id);

      // Assess
      expect(seen).toEqual(records.map((r) => r.id));
      expect(asked).toEqual([{ top: 8 }, { top: 8, after: 'r-04' }, { top: 8, after: 'r-09' }]);
    });

    it(`reads a page only when the one before was taken, ${DEFAULT_PAGE_SIZE} records by default`, async () => {
      // Prepare
      const asked: PageRequest[] = [];
      const listPage = async (request: PageRequest) => (asked.push(request), keyPage(records, request, 4));

      // Act: the caller stops at the first record of the second page
      for await (const record of eachListed(listPage)) if (record.id === 'r-04') break;

      // Assess
      expect(asked).toEqual([{ top: DEFAULT_PAGE_SIZE }, { top: DEFAULT_PAGE_SIZE, after: 'r-03' }]);
    });

    it('fails rather than read the same page forever when a page ends where it started', async () => {
      // Prepare: a list whose pages always end at r-00
      const listPage = async () => ({ items: [records[0]!], after: 'r-00' });

      // Act
      const walk = async () => {
        for await (const record of eachListed(listPage)) void record;
      };

      // Assess
      await expect(walk()).rejects.toThrow('listPage did not move past r-00');
    });
  });
});
