/** The most items a page of the console reads through every page of a list; past it, it says so. */
export const READ_ALL_CAP = 1000;

/**
 * Every item of a keyset-paged list (`{items, nextCursor}`), page after page, up to `cap`: the hooks, a hook's
 * releases and live changes, the workspace tree. `truncated` says more exist, so a page never shows the first page of
 * a list as if it were all of it.
 */
export async function readAll<T>(
  fetchPage: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string | null }>,
  cap = READ_ALL_CAP,
): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
    if (items.length >= cap) return { items: items.slice(0, cap), truncated: items.length > cap || cursor !== undefined };
  } while (cursor);
  return { items, truncated: false };
}
