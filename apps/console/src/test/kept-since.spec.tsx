import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';

const resource = 'agent:7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11';
const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });

/** The access audit with the gateway's answers stubbed: no grant now, the history as given. */
async function renderAudit(history: { items: unknown[]; nextCursor: string | null; keptSince: string | null }) {
  vi.resetModules(); // the API client keeps the fetch it was made with
  vi.stubGlobal('fetch', async (req: Request) => {
    const path = new URL(req.url).pathname;
    if (path === '/v1/authz/grants') return json({ items: [], nextCursor: null });
    if (path === '/v1/authz/grants/history') return json(history);
    return new Response(null, { status: 404 });
  });
  const { AccessAudit } = await import('../components/AccessAudit.js');
  return render(
    <QueryClientProvider client={new QueryClient()}>
      <AccessAudit resource={resource} />
    </QueryClientProvider>,
  );
}

const change = { change: 'granted', subject: 'user:carol', action: 'read', by: 'user:ada', at: '2026-12-06T10:00:00.000Z' };

describe('an audit list says where its retention begins', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('under the last page of the history, the time since which changes are kept', async () => {
    const { container } = await renderAudit({ items: [change], nextCursor: null, keptSince: '2026-11-06T10:00:00.000Z' });
    await screen.findByRole('table', { name: 'Grant history' });
    const note = container.querySelector('[data-kept-since]');
    expect(note?.textContent).toMatch(/^Changes before .+ are no longer kept\.$/);
    expect(note?.querySelector('time')?.getAttribute('dateTime')).toBe('2026-11-06T10:00:00.000Z');
  });

  it('an empty history within a retention does not claim nothing ever changed', async () => {
    const { container } = await renderAudit({ items: [], nextCursor: null, keptSince: '2026-11-06T10:00:00.000Z' });
    await screen.findByText('No grant of it has changed in the time kept.');
    expect(container.querySelector('[data-kept-since]')).not.toBeNull();
  });

  it('nothing is said while every change is kept, nor before the last page', async () => {
    const kept = await renderAudit({ items: [], nextCursor: null, keptSince: null });
    await screen.findByText('No grant of it has changed since the audit began.');
    expect(kept.container.querySelector('[data-kept-since]')).toBeNull();
    kept.unmount();
    const paged = await renderAudit({ items: [change], nextCursor: 'MQ', keptSince: '2026-11-06T10:00:00.000Z' });
    await screen.findByRole('button', { name: 'Older changes' });
    await waitFor(() => expect(paged.container.querySelector('[data-kept-since]')).toBeNull());
  });
});
