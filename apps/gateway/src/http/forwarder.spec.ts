import { fields, waitBudgetMs } from './forwarder.js';

describe('a body read for its fields', () => {
  it('is the object itself, or {} when there is no body at all', () => {
    expect(fields({ workerId: 'w' })).toEqual({ workerId: 'w' });
    expect(fields(undefined)).toEqual({});
  });

  it.each([
    [null, 'null'],
    [[{ workerId: 'w' }], 'array'],
    ['workerId', 'string'],
    [42, 'number'],
  ])('is VALIDATION for a body that is not an object (%j), never read as empty', (body, kind) => {
    expect(() => fields(body)).toThrow(expect.objectContaining({ code: 'VALIDATION', details: { issues: [{ path: '', message: `expected a JSON object, received ${kind}` }] } }));
  });
});

describe('the time a waiting call is given', () => {
  it('is its wait, bounded to 30 s, plus 5 s to answer', () => {
    expect(waitBudgetMs({})).toBe(5_000);
    expect(waitBudgetMs({ waitMs: 2_000 })).toBe(7_000);
    expect(waitBudgetMs({ waitMs: 'soon' })).toBe(5_000);
    expect(waitBudgetMs({ waitMs: 120_000 })).toBe(35_000);
    expect(waitBudgetMs({ waitMs: '2000' })).toBe(7_000);
  });

  it('reads nothing else, before the contract has checked it: an array 6 000 deep is no wait, not a stack overflow', () => {
    expect(waitBudgetMs({ waitMs: JSON.parse(`${'['.repeat(6_000)}${']'.repeat(6_000)}`) })).toBe(5_000);
    expect(waitBudgetMs({ waitMs: [1_000] })).toBe(5_000);
  });
});
