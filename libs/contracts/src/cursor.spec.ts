import fc from 'fast-check';
import { z } from 'zod';
import { isDomainError } from '@agentplane/domain';
import { CursorInstant, CursorName, CursorPositiveInt4, decodeCursor, encodeCursor, HookName, Uuid } from './index.js';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** What decodeCursor threw, as the caller's answer would carry it. */
function refusal(cursor: string, schema: z.ZodType): unknown {
  try {
    decodeCursor(cursor, schema);
  } catch (err) {
    return isDomainError(err) ? err.toBody() : err;
  }
  return 'decoded';
}

const REFUSED = { code: 'VALIDATION', message: 'cursor is not one this list returned', details: { issues: [{ path: 'cursor', message: 'invalid cursor' }] } };

describe('list cursors', () => {
  const tasks = z.tuple([CursorInstant, Uuid]);
  const at = '2026-01-02T03:04:05.678Z';
  const id = '0194b3a0-1c2d-7e3f-8a4b-5c6d7e8f9a0b';

  it('encodes as Buffer base64url of the JSON did, so a cursor already given still decodes', () => {
    const values: unknown[] = [[at, id], ['enrich'], [7], 'café ☕ 𝄞', ['a\ud800']];
    for (const v of values) expect(encodeCursor(v)).toBe(b64(JSON.stringify(v)));
    expect(decodeCursor(b64(JSON.stringify([at, id])), tasks)).toEqual([new Date(at), id]);
    expect(decodeCursor(b64(JSON.stringify('naïve ☕')), CursorName)).toBe('naïve ☕');
    fc.assert(fc.property(fc.jsonValue(), (v) => expect(decodeCursor(encodeCursor(v), z.unknown())).toEqual(JSON.parse(JSON.stringify(v)))));
  });

  it('refuses what is not base64url of UTF-8 JSON as VALIDATION naming cursor', () => {
    for (const c of ['nope', '', 'e30=', 'e30+', 'a b', b64('{'), Buffer.from([0x22, 0xff, 0x22]).toString('base64url'), 'Y']) {
      expect({ c, r: refusal(c, z.unknown()) }).toEqual({ c, r: REFUSED });
    }
  });

  it('refuses a tasks or live-changes cursor PostgreSQL would refuse: a non-UUID id, year 0, a negative year', () => {
    const bad = [
      ['2026-01-01T00:00:00.000Z', '------------------------------------'],
      ['0000-06-01T00:00:00.000Z', id],
      ['0000-06-01T00:00:00Z', id],
      ['-100000-01-01T00:00:00Z', id],
      ['+010000-01-01T00:00:00.000Z', id],
      ['2026-01-01T00:00:00Z', 'x'],
      ['2026-02-31T00:00:00.000Z', id],
      ['2026-01-01T24:00:00.000Z', id],
      ['2026-01-01 00:00:00.000Z', id],
      [at, id, 'extra'],
      [at],
      { at, id },
      [Date.parse(at), id],
    ];
    for (const v of bad) expect({ v, r: refusal(encodeCursor(v), tasks) }).toEqual({ v, r: REFUSED });
  });

  it('takes every instant of years 0001–9999 as toISOString wrote it', () => {
    const min = Date.parse('0001-01-01T00:00:00.000Z');
    const max = Date.parse('9999-12-31T23:59:59.999Z');
    for (const ms of [min, max, 0]) expect(CursorInstant.parse(new Date(ms).toISOString()).getTime()).toBe(ms);
    fc.assert(fc.property(fc.integer({ min, max }), (ms) => expect(CursorInstant.parse(new Date(ms).toISOString()).getTime()).toBe(ms)));
    expect(CursorInstant.safeParse(new Date(min - 1).toISOString()).success).toBe(false);
    expect(CursorInstant.safeParse(new Date(max + 1).toISOString()).success).toBe(false);
  });

  it('refuses a name with a NUL or other C0 control, and an empty or overlong one; keeps older names Name refuses', () => {
    for (const v of ['\u0000', 'a\u0000b', 'tab\t', 'del\u007f', '', 'x'.repeat(201), 1, null]) expect(CursorName.safeParse(v).success).toBe(false);
    // C1 and bidirectional controls, text not in NFC, white space at an end: Name refuses them now; old rows hold them
    for (const v of ['a\u0085', 'a\u202eb', 'Ame\u0301lie', ' padded ', 'x'.repeat(200)]) expect(CursorName.safeParse(v).success).toBe(true);
    expect(refusal(encodeCursor('\u0000'), CursorName)).toEqual(REFUSED);
    expect(refusal(encodeCursor(['\u0000']), z.tuple([HookName]))).toEqual(REFUSED);
  });

  it('refuses a release version that is no positive int4', () => {
    for (const v of [1e300, 0, -1, 1.5, 2_147_483_648, '7', Number.MAX_SAFE_INTEGER]) expect(refusal(encodeCursor([v]), z.tuple([CursorPositiveInt4]))).toEqual(REFUSED);
    expect(decodeCursor(encodeCursor([2_147_483_647]), z.tuple([CursorPositiveInt4]))).toEqual([2_147_483_647]);
  });
});
