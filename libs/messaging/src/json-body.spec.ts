import { gzipSync } from 'node:zlib';
import { parseJsonBody } from './json-body.js';

function parse(text: string | Buffer, headers: Record<string, string> = {}): { err: Error | null; value?: unknown } {
  let out: { err: Error | null; value?: unknown } = { err: null };
  parseJsonBody({ headers }, Buffer.isBuffer(text) ? text : Buffer.from(text), (err, value) => {
    out = { err, value };
  });
  return out;
}

const issue = (message: string) => expect.objectContaining({ code: 'VALIDATION', details: { issues: [{ path: '', message }] } });

describe('parseJsonBody: an HTTP body as JSON, or VALIDATION naming the body', () => {
  it('reads JSON of any kind (the contract decides what it must be)', () => {
    expect(parse('{"name":"a","n":[1,2]}')).toEqual({ err: null, value: { name: 'a', n: [1, 2] } });
    expect(parse('null')).toEqual({ err: null, value: null });
    expect(parse('"x"')).toEqual({ err: null, value: 'x' });
  });

  it('refuses an empty body and bytes that are not JSON', () => {
    expect(parse('').err).toEqual(issue('the body is empty, but its content-type is application/json'));
    expect(parse('{"name": ').err).toEqual(issue('the body is not valid JSON'));
    expect(parse('{"name": "x",}').err).toEqual(issue('the body is not valid JSON'));
  });

  it('refuses bytes that are not UTF-8 (read as U+FFFD they would be stored as a character nobody sent)', () => {
    expect(parse(Buffer.from('{"name":"caf\u00e9"}', 'latin1')).err).toEqual(issue('the body is not valid UTF-8 (JSON text is UTF-8)'));
    expect(parse(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])).err).toEqual(issue('the body is not valid UTF-8 (JSON text is UTF-8)')); // a surrogate, as UTF-8 bytes
    expect(parse(Buffer.from('{"name":"café 😀"}', 'utf8'))).toEqual({ err: null, value: { name: 'café 😀' } });
  });

  it('refuses a compressed body, naming the header, and reads one said to be identity', () => {
    const body = gzipSync('{"name":"a"}');
    for (const encoding of ['gzip', 'br', 'deflate', 'GZIP']) {
      expect(parse(body, { 'content-encoding': encoding }).err).toEqual(
        expect.objectContaining({
          code: 'VALIDATION',
          details: { issues: [{ path: 'header.content-encoding', message: `a compressed body (Content-Encoding: ${encoding}) is not accepted: send it uncompressed` }] },
        }),
      );
    }
    expect(parse('{"name":"a"}', { 'content-encoding': 'identity' })).toEqual({ err: null, value: { name: 'a' } });
  });

  it('refuses a key that would reach a prototype, at any depth, and never reads it', () => {
    for (const text of ['{"__proto__":{"admin":true}}', '{"a":{"__proto__":{"admin":true}}}', '{"constructor":{"prototype":{"admin":true}}}']) {
      expect(parse(text).err).toEqual(issue('a "__proto__" or "constructor.prototype" key is not accepted'));
    }
    expect(({} as { admin?: boolean }).admin).toBeUndefined();
    // a key merely named constructor, without a prototype under it, is data
    expect(parse('{"constructor":"x"}')).toEqual({ err: null, value: { constructor: 'x' } });
  });
});
