import { randomUUIDv7 } from 'node:crypto';
import { IdSequence, newId, parseBigintId, UUID_RE } from './ids.js';

/** The 48-bit millisecond timestamp at the front of a UUIDv7. */
const millisOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('newId', () => {
  it('makes RFC 9562 version-7 UUIDs stamped with the current millisecond', () => {
    const before = Date.now();
    const ids = Array.from({ length: 1000 }, () => newId());
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(UUID_RE);
      expect(id[14]).toBe('7'); // the version nibble
      expect('89ab').toContain(id[19]); // the RFC 9562 variant
      expect(millisOf(id)).toBeGreaterThanOrEqual(before);
      expect(millisOf(id)).toBeLessThanOrEqual(after);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sorts ids of later milliseconds after earlier ones, as text (PostgreSQL orders uuid by the same bytes)', async () => {
    const first = newId();
    const start = Date.now();
    while (Date.now() === start) await new Promise((r) => setTimeout(r, 1));
    const later = newId();
    expect(millisOf(later)).toBeGreaterThan(millisOf(first));
    expect(later > first).toBe(true);
  });
});

describe('IdSequence', () => {
  /** A fresh UUIDv7 as randomUUIDv7 makes it, stamped with `ms` (its random bits kept). */
  const at = (ms: number) => {
    const t = ms.toString(16).padStart(12, '0');
    return `${t.slice(0, 8)}-${t.slice(8)}${randomUUIDv7().slice(13)}`;
  };
  const counterOf = (id: string) => parseInt(id.slice(15, 18), 16);

  it('sorts ids made one after another in the order they were made, also within one millisecond', () => {
    // Node's randomUUIDv7 alone sorts about half of such pairs the wrong way round.
    const ids = Array.from({ length: 20_000 }, () => newId());
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
  });

  it('counts up within a millisecond from a random start under 2,048, keeping the version, variant and random bits', () => {
    const seq = new IdSequence();
    const fresh = [at(1_000), at(1_000), at(1_000)];
    const ids = fresh.map((f) => seq.next(f));
    expect(counterOf(ids[0]!)).toBeLessThan(2048);
    expect(ids.map(counterOf)).toEqual([0, 1, 2].map((i) => counterOf(ids[0]!) + i));
    ids.forEach((id, i) => {
      expect(id).toMatch(UUID_RE);
      expect(millisOf(id)).toBe(1_000);
      expect(id[14]).toBe('7');
      expect(id.slice(18)).toBe(fresh[i]!.slice(18)); // the variant and the 62 random bits
    });
  });

  it('keeps the order when the clock steps back, and starts afresh at a later millisecond', () => {
    const seq = new IdSequence();
    const a = seq.next(at(5_000));
    const b = seq.next(at(4_000)); // the clock stepped back a second
    expect(millisOf(b)).toBe(5_000);
    expect(counterOf(b)).toBe(counterOf(a) + 1);
    const c = seq.next(at(5_001));
    expect(millisOf(c)).toBe(5_001);
    expect(counterOf(c)).toBeLessThan(2048);
    expect(a < b && b < c).toBe(true);
  });

  it("moves to the next millisecond when a millisecond's counter runs out", () => {
    const seq = new IdSequence();
    // A millisecond holds 4,096 − its start ids (a start is under 2,048): 4,097 always spills into 7,001 and never
    // past it. 4,200 spilled into 7,002 when both starts were above about 1,996 (about 1 run in 800: seen in CI).
    const ids = Array.from({ length: 4_097 }, () => seq.next(at(7_000)));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(millisOf(ids[0]!)).toBe(7_000);
    expect(millisOf(ids.at(-1)!)).toBe(7_001);
    expect(counterOf(ids.find((id) => millisOf(id) === 7_001)!)).toBeLessThan(2048);
  });
});

describe('parseBigintId', () => {
  it("takes a bigint identity's ids, 1 to PostgreSQL's largest bigint, and nothing else", () => {
    for (const ok of ['1', '98', '100', '9223372036854775807']) expect(parseBigintId(ok)).toBe(ok);
    for (const bad of ['', '0', '-1', '01', '1.5', '1e3', ' 1', '9223372036854775808', '9999999999999999999', '10000000000000000000', 'x']) {
      expect([bad, parseBigintId(bad)]).toEqual([bad, null]);
    }
  });
});
