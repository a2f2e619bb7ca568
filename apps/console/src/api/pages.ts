/** The most items a page of the console reads through every page of a list; past it, it says so. */
export const READ_ALL_CAP = 1000;

/**
 * Every item of a keyset-paged list (`{items, nextCursor}`), page after page, up to `cap`: the hooks, a hook's
 * releases and live changes, the workspace tree. `truncated` says more exist, so a page never shows the first page of
 * a list as if it were all of it.
 */
export async function readAll<T>(fetchPage: FetchPage<T>, cap = READ_ALL_CAP): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = [];
  for await (const page of pagesOf(fetchPage)) {
    items.push(...page.items);
    if (items.length >= cap) return { items: items.slice(0, cap), truncated: items.length > cap || Boolean(page.nextCursor) };
  }
  return { items, truncated: false };
}

export type FetchPage<T> = (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string | null }>;

/** The pages of a keyset-paged list, first to last, following `nextCursor`; the caller stops reading when it has enough. */
export async function* pagesOf<T>(fetchPage: FetchPage<T>): AsyncGenerator<{ items: T[]; nextCursor?: string | null }> {
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    yield page;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}
