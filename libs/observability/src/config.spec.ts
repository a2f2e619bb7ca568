import { z } from 'zod';
import { parseEnv, ConfigError } from './config.js';
import { requestIdFrom } from './logging.js';

describe('parseEnv', () => {
  const schema = z.object({ PORT: z.coerce.number().int().min(1).max(65535), NAME: z.string().default('x') });

  it('parses and applies defaults', () => {
    expect(parseEnv(schema, { PORT: '3000' })).toEqual({ PORT: 3000, NAME: 'x' });
  });

  it('names the variable at fault', () => {
    expect(() => parseEnv(schema, { PORT: 'abc' })).toThrow(ConfigError);
    expect(() => parseEnv(schema, { PORT: 'abc' })).toThrow(/PORT/);
  });
});

describe('requestIdFrom', () => {
  it('keeps a well-formed id and replaces anything else', () => {
    expect(requestIdFrom('req-1')).toBe('req-1');
    expect(requestIdFrom('bad id\n')).not.toBe('bad id\n');
    expect(requestIdFrom(undefined)).toMatch(/^[0-9a-f-]{36}$/);
  });
});
