import { pathOf, writesAt } from './logging.js';

describe('writesAt: whether a LOG_LEVEL writes a line of a level', () => {
  it.each([
    ['trace', true, true],
    ['debug', true, true],
    ['info', false, true],
    ['warn', false, false],
    ['error', false, false],
    ['fatal', false, false],
    ['silent', false, false],
    ['verbose', false, false],
    [undefined, true, true],
  ])('at %s: debug %s, info %s', (level, debug, info) => {
    expect([writesAt(level, 'debug'), writesAt(level, 'info')]).toEqual([debug, info]);
  });
});

describe('pathOf: the path a request was sent to, as the access log decides on it', () => {
  it.each([
    [{ url: '/readyz' }, '/readyz'],
    [{ url: '/', originalUrl: '/readyz' }, '/readyz'],
    [{ url: '/', originalUrl: '/v1/tasks?limit=1' }, '/v1/tasks'],
    [{}, ''],
  ])('%j → %s', (req, path) => {
    expect(pathOf(req)).toBe(path);
  });
});
