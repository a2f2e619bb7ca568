import { bearerToken } from './access.js';

describe('bearerToken', () => {
  it('reads the token of an Authorization header, tolerating the white space CLIs leave around it', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken(' Bearer abc.def.ghi ')).toBe('abc.def.ghi'); // `nats req … -H "authorization: Bearer …"`
    expect(bearerToken('bearer abc')).toBe('abc');
  });

  it('refuses anything else', () => {
    expect(bearerToken('Basic dXNlcg==')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
