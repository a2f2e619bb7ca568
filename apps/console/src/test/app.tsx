import { vi } from 'vitest';
import { render } from '@testing-library/react';

/** An answer the stubbed API gives: a JSON body with a status. */
export const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** An API error answer as the gateway sends it. */
export const apiError = (status: number, code: string, message = code): Response => json({ error: { code, message } }, status);

/** A promise settled from outside: an answer held back until the test lets it go. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A session token whose payload names a tenant (the console reads `tid`; the gateway is stubbed). */
export const TOKEN = `e30.${btoa(JSON.stringify({ tid: 'tenant-1', sub: 'ops' }))}.sig`;

/**
 * The whole console (the real route tree, query client and API client) at `path`, signed in, its API answered by
 * `answer` (every request it makes is kept in `requests`). Fresh modules each time: the client keeps the fetch it was
 * made with, and the router and query cache are module state.
 */
export async function mountConsole(path: string, answer: (req: Request, url: URL) => Response | Promise<Response>) {
  vi.resetModules();
  sessionStorage.setItem('agentplane.token', TOKEN);
  window.history.replaceState(null, '', `/console${path}`);
  const requests: Request[] = [];
  vi.stubGlobal('fetch', async (req: Request) => {
    requests.push(req);
    return answer(req, new URL(req.url));
  });
  const { QueryClientProvider } = await import('@tanstack/react-query');
  const { RouterProvider } = await import('@tanstack/react-router');
  const { queryClient, router } = await import('../router.js');
  const view = render(
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  return { ...view, router, queryClient, requests };
}

/** The requests made for one path (and method), e.g. to count the reads of a task. */
export const madeTo = (requests: Request[], pathname: string, method = 'GET') =>
  requests.filter((r) => r.method === method && new URL(r.url).pathname === pathname);
