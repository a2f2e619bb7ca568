import { loggedUrl, pathOf, writesAt } from './logging.js';

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

describe('loggedUrl', () => {
  it('redacts the value of a query parameter whose name says it holds a secret, and leaves the rest as it came', () => {
    expect(loggedUrl('/v1/tasks?limit=5&access_token=eyJ.x.y&status=pending')).toBe('/v1/tasks?limit=5&access_token=[redacted]&status=pending');
    expect(loggedUrl('/x?api_key=1&apiKey=2&password=3&sig=4&X-Amz-Signature=5&key=6&cursor=7')).toBe(
      '/x?api_key=[redacted]&apiKey=[redacted]&password=[redacted]&sig=[redacted]&X-Amz-Signature=[redacted]&key=[redacted]&cursor=7',
    );
    // a name spelt with escapes is judged decoded; a bare name has no value to hide
    expect(loggedUrl('/x?%74oken=abc&token&q=%E0%A4%A')).toBe('/x?%74oken=[redacted]&token&q=%E0%A4%A');
    expect(loggedUrl('/v1/tasks')).toBe('/v1/tasks');
    expect(loggedUrl(undefined)).toBeUndefined();
  });
});
