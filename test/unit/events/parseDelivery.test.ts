import { MalformedEventError } from '../../../shared/events/errors';
import { readEpochSeconds, readString } from '../../../shared/events/lenientData';
import { parseDelivery } from '../../../shared/events/parseDelivery';

const request = (body: string, headers: Record<string, string> = {}) => ({
  body,
  header: (name: string) => headers[name.toLowerCase()],
});

describe('Function: parseDelivery', () => {
  it('normalises an Event Grid schema array', () => {
    // Act
    const delivery = parseDelivery(
      request(
        JSON.stringify([
          { id: '1', eventType: 'T', subject: '', eventTime: '2026-01-01T00:00:00Z', topic: '/t', data: {} },
        ]),
      ),
    );

    // Assess
    expect(delivery).toEqual({
      kind: 'events',
      events: [
        {
          schema: 'eventGrid',
          id: '1',
          type: 'T',
          source: '/t',
          subject: '',
          time: '2026-01-01T00:00:00Z',
          data: {},
        },
      ],
    });
  });

  it('accepts `specVersion` in camelCase, as the recorded ML CloudEvents sample has it', () => {
    // Act
    const delivery = parseDelivery(
      request(JSON.stringify({ specVersion: '1.0', id: '1', type: 'T', source: '/s', data: {} })),
    );

    // Assess
    expect(delivery.kind === 'events' && delivery.events[0]?.schema).toBe('cloudEvents');
  });

  it('names every bad field of every event at once', () => {
    // Act
    const act = () => parseDelivery(request(JSON.stringify([{ id: '', eventType: 3 }, 'x'])));

    // Assess
    expect(act).toThrow(MalformedEventError);
    expect(act).toThrow(
      /\[0\]\.id.*\[0\]\.eventType.*\[0\]\.subject.*\[0\]\.eventTime.*\[0\]\.data.*\[1\]\.event/,
    );
  });

  it('refuses a structured-mode content type carrying an array', () => {
    // Act + Assess
    expect(() => parseDelivery(request('[]', { 'content-type': 'application/cloudevents+json' }))).toThrow(
      'body: must be one CloudEvent object',
    );
  });

  it('requires the validation code of a validation event', () => {
    // Act + Assess
    expect(() =>
      parseDelivery(
        request(
          JSON.stringify([
            {
              id: '1',
              eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
              subject: '',
              eventTime: 't',
              data: {},
            },
          ]),
        ),
      ),
    ).toThrow('data.validationCode: is required');
  });
});

describe('Function: readEpochSeconds', () => {
  it.each([
    [{ EXP: 1766451600 }, '2025-12-23T01:00:00.000Z'],
    [{ exp: '1766451600' }, '2025-12-23T01:00:00.000Z'],
    [{ ' Exp ': ' 1766451600 ' }, '2025-12-23T01:00:00.000Z'],
    [{ EXP: null }, undefined],
    [{}, undefined],
    [{ EXP: 'tomorrow' }, 'invalid'],
    [{ EXP: {} }, 'invalid'],
  ])('reads %j as %s', (data, expected) => {
    // Act
    const value = readEpochSeconds(data, 'EXP');

    // Assess
    expect(value instanceof Date ? value.toISOString() : value).toBe(expected);
  });
});

describe('Function: readString', () => {
  it('matches keys case-insensitively, trims values and stringifies numbers', () => {
    // Act + Assess
    expect(readString({ 'ObjectName ': ' demo ' }, 'objectName')).toBe('demo');
    expect(readString({ ModelVersion: 20 }, 'modelVersion')).toBe('20');
    expect(readString({ a: '  ' }, 'a')).toBeUndefined();
  });
});
