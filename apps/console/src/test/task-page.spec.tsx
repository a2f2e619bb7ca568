import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { apiError, json, madeTo, mountConsole } from './app.js';

const ID = '7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11';
const AGENT = '0d5c2f4e-9a1b-4c3d-8e7f-6a5b4c3d2e1f';
const TASK = `/v1/tasks/${ID}`;
const EVENTS = `/v1/tasks/${ID}/events`;

const task = (over: Record<string, unknown> = {}) => ({
  id: ID,
  tenantId: 'tenant-1',
  agentId: AGENT,
  name: 'nightly',
  status: 'completed',
  params: {},
  result: { ok: true },
  priority: 0,
  attempt: 2,
  maxAttempts: 3,
  cancelRequested: false,
  progress: null,
  workerId: null,
  creatorUserId: 'ops',
  createdAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const ev = (seq: number, type: string, data: Record<string, unknown> = {}) => ({ taskId: ID, seq, type, at: at(seq), data });
/** Completed on its second attempt, the first retried. */
const HISTORY = [
  ev(1, 'created'),
  ev(2, 'claimed', { attempt: 1, workerId: 'w-a' }),
  ev(3, 'retry_scheduled', { attempt: 1, workerId: 'w-a', error: { message: 'upstream 502' }, runAfter: at(4) }),
  ev(4, 'claimed', { attempt: 2, workerId: 'w-b' }),
  ev(5, 'completed', { attempt: 2, workerId: 'w-b' }),
];

afterEach(() => vi.unstubAllGlobals());

describe('the task page when the events stream cannot be had', () => {
  const sse = (req: Request) => req.headers.get('accept') === 'text/event-stream';

  it('reads the history as JSON pages instead, and never says the task was not claimed', async () => {
    const { requests } = await mountConsole(`/tasks/${ID}`, (req, url) => {
      if (url.pathname === EVENTS && sse(req)) return apiError(503, 'UNAVAILABLE', 'the gateway is restarting');
      if (url.pathname === EVENTS) {
        const after = Number(url.searchParams.get('after') ?? 0);
        // two pages: the first ends after seq 3
        return after < 3 ? json({ items: HISTORY.slice(after, 3), nextAfter: 3, status: 'completed' }) : json({ items: HISTORY.slice(3), nextAfter: null, status: 'completed' });
      }
      if (url.pathname === TASK) return json(task());
      return apiError(404, 'NOT_FOUND');
    });
    const table = await screen.findByRole('table', { name: 'Attempts' });
    expect(within(table).getAllByRole('row').slice(1).map((r) => [r.dataset.attempt, r.dataset.outcome])).toEqual([
      ['1', 'retried'],
      ['2', 'completed'],
    ]);
    expect(screen.getByRole('list', { name: 'Events' }).querySelectorAll('li')).toHaveLength(5);
    expect(screen.queryByText(/Not claimed yet/)).toBeNull();
    expect(screen.queryByText('No events yet.')).toBeNull();
    expect(madeTo(requests, EVENTS).filter((r) => !sse(r)).map((r) => new URL(r.url).searchParams.get('after'))).toEqual(['0', '3']);
  });

  it('says the history could not be read when the pages fail too, not that there is none', async () => {
    await mountConsole(`/tasks/${ID}`, (req, url) => {
      if (url.pathname === EVENTS) return apiError(503, 'UNAVAILABLE', 'the gateway is restarting');
      if (url.pathname === TASK) return json(task());
      return apiError(404, 'NOT_FOUND');
    });
    const alert = await screen.findByTestId('history-failed');
    expect(alert.textContent).toContain('could not be read');
    expect(alert.textContent).toContain('UNAVAILABLE');
    expect(screen.queryByText(/Not claimed yet/)).toBeNull();
    expect(screen.queryByText('No events yet.')).toBeNull();
    expect(screen.getAllByText('Not known until the history is read.')).toHaveLength(2);
  });
});

describe('a task deleted while its page is open', () => {
  it('says so, and stops reading the task (no 404 every 3 s)', async () => {
    let deleted = false;
    const { requests } = await mountConsole(`/tasks/${ID}`, (req, url) => {
      if (url.pathname === EVENTS && req.headers.get('accept') === 'text/event-stream') {
        deleted = true;
        const created = `id: 1\nevent: created\ndata: ${JSON.stringify(ev(1, 'created'))}\n\n`;
        return new Response(`${created}event: error\ndata: {"code":"NOT_FOUND"}\n\n`, { headers: { 'content-type': 'text/event-stream' } });
      }
      if (url.pathname === TASK && !deleted) return json(task({ status: 'running', attempt: 1, result: null }));
      return apiError(404, 'NOT_FOUND', 'task not found');
    });
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('NOT_FOUND'));
    const reads = madeTo(requests, TASK).length;
    await new Promise((r) => setTimeout(r, 3_500));
    expect(madeTo(requests, TASK)).toHaveLength(reads);
  });
});

describe('a write on the task page', () => {
  const created = sse([ev(1, 'created')]);
  function sse(events: unknown[]) {
    return (events as Array<{ seq: number; type: string }>).map((e) => `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('');
  }

  it('cancel: back on the list the task shows canceled at once, and the agent\'s queue counts are read again', async () => {
    let canceled = false;
    const listed = () => task({ status: canceled ? 'canceled' : 'pending', attempt: 0, result: null });
    const { queryClient } = await mountConsole('/tasks', (req, url) => {
      if (url.pathname === '/v1/tasks') return json({ items: [listed()], nextCursor: null });
      if (url.pathname === `${TASK}/cancel` && req.method === 'POST') {
        canceled = true;
        return json(listed());
      }
      if (url.pathname === TASK) return json(listed());
      if (url.pathname === EVENTS) return new Response(created, { headers: { 'content-type': 'text/event-stream' } });
      return apiError(404, 'NOT_FOUND');
    });
    queryClient.setQueryData(['agent-stats', AGENT], { pending: 1, running: 0, completed: 0, failed: 0, canceled: 0, oldestPendingAt: null });
    fireEvent.click(await screen.findByRole('link', { name: 'nightly' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Cancel task' }));
    fireEvent.click(screen.getByRole('button', { name: 'Yes, cancel the task' }));
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Cancel task' })).toBeNull());
    expect(queryClient.getQueryState(['agent-stats', AGENT])?.isInvalidated).toBe(true);
    fireEvent.click(screen.getByRole('link', { name: '← Tasks' }));
    const link = await screen.findByRole('link', { name: 'nightly' });
    await waitFor(() => expect(link.closest('tr')?.dataset.status).toBe('canceled'));
  });

  it.each([
    ['run again', 'Run again…', 'Create the new task'],
    ['delete', 'Delete task…', 'Yes, delete the task'],
  ])('%s: the task lists and the agent\'s queue counts are read again', async (_what, open, confirm) => {
    const { queryClient } = await mountConsole(`/tasks/${ID}`, (req, url) => {
      if (url.pathname === '/v1/tasks' && req.method === 'POST') return json({ ...task({ status: 'pending' }), id: '11111111-1111-4111-8111-111111111111' }, 201);
      if (url.pathname === TASK && req.method === 'DELETE') return new Response(null, { status: 204 });
      if (url.pathname === TASK) return json(task({ status: 'failed', result: null }));
      if (url.pathname === EVENTS) return new Response(sse(HISTORY), { headers: { 'content-type': 'text/event-stream' } });
      return apiError(404, 'NOT_FOUND');
    });
    queryClient.setQueryData(['tasks', {}], { items: [], nextCursor: null });
    queryClient.setQueryData(['agent-stats', AGENT], { pending: 0, running: 0, completed: 0, failed: 1, canceled: 0, oldestPendingAt: null });
    fireEvent.click(await screen.findByRole('button', { name: open }));
    fireEvent.click(screen.getByRole('button', { name: confirm }));
    await waitFor(() => expect(screen.queryByRole('button', { name: confirm })).toBeNull());
    expect(queryClient.getQueryState(['tasks', {}])?.isInvalidated).toBe(true);
    expect(queryClient.getQueryState(['agent-stats', AGENT])?.isInvalidated).toBe(true);
  });
});
