import { describe, expect, it } from 'vitest';
import { readAll } from '../api/pages.js';

/** A list of `n` items served `size` per page with opaque cursors, counting the pages asked. */
function served(n: number, size: number) {
  const asked: Array<string | undefined> = [];
  const fetchPage = async (cursor: string | undefined) => {
    asked.push(cursor);
    const from = cursor ? Number(atob(cursor)) : 0;
    const items = Array.from({ length: Math.min(size, n - from) }, (_, i) => from + i);
    return { items, nextCursor: from + size < n ? btoa(String(from + size)) : null };
  };
  return { fetchPage, asked };
}

describe('readAll', () => {
  it('follows every cursor to the last page, in order', async () => {
    const { fetchPage, asked } = served(250, 100);
    const all = await readAll(fetchPage);
    expect(all.truncated).toBe(false);
    expect(all.items).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(asked).toHaveLength(3);
    expect(asked[0]).toBeUndefined();
  });

  it('stops at the cap and says more exist; exactly the cap is not more', async () => {
    const over = await readAll(served(250, 100).fetchPage, 150);
    expect(over.items).toHaveLength(150);
    expect(over.truncated).toBe(true);
    const exact = await readAll(served(200, 100).fetchPage, 200);
    expect(exact).toMatchObject({ truncated: false });
    expect(exact.items).toHaveLength(200);
    const empty = await readAll(served(0, 100).fetchPage);
    expect(empty).toEqual({ items: [], truncated: false });
  });
});
