import { newId, UUID_RE } from './ids.js';

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
