import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { apiError, deferred, json, mountConsole } from './app.js';

const AGENT = '0d5c2f4e-9a1b-4c3d-8e7f-6a5b4c3d2e1f';

let n = 0;
const row = (name: string, status: string) => ({
  id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  tenantId: 'tenant-1',
  agentId: AGENT,
  name,
  status,
  params: {},
  priority: 0,
  attempt: status === 'pending' ? 0 : 1,
  maxAttempts: 3,
  cancelRequested: false,
  createdAt: '2026-01-01T00:00:00.000Z',
});

afterEach(() => vi.unstubAllGlobals());

describe('the tasks list after a filter change', () => {
  it('shows the previous rows as loading, and "select all" cannot tick them, until the new rows come', async () => {
    const pending = [row('p-1', 'pending'), row('p-2', 'pending')];
    const running = [row('r-1', 'running')];
    const runningAnswer = deferred<Response>();
    await mountConsole('/tasks?status=pending', (_req, url) => {
      if (url.pathname === '/v1/tasks') {
        const status = url.searchParams.get('status');
        if (status === 'running') return runningAnswer.promise;
        return json({ items: status === 'pending' ? pending : [], nextCursor: null });
      }
      return apiError(404, 'NOT_FOUND');
    });
    await screen.findByRole('link', { name: 'p-1' });
    fireEvent.change(screen.getByRole('combobox', { name: 'Status' }), { target: { value: 'running' } });
    await screen.findByTestId('tasks-stale');
    const table = screen.getByRole('table', { name: 'Tasks' });
    expect(table.closest('[aria-busy="true"]')).not.toBeNull();
    const all = within(table).getByRole('checkbox', { name: 'Select every cancelable task on this page' }) as HTMLInputElement;
    expect(all.disabled).toBe(true);
    fireEvent.click(all);
    expect((within(table).getByRole('checkbox', { name: 'Select p-1' }) as HTMLInputElement).disabled).toBe(true);
    expect(screen.getByTestId('selected-count').textContent).toBe('0 selected');
    runningAnswer.resolve(json({ items: running, nextCursor: null }));
    await screen.findByRole('link', { name: 'r-1' });
    expect(screen.queryByTestId('tasks-stale')).toBeNull();
    expect(screen.getByRole('table', { name: 'Tasks' }).closest('[aria-busy="true"]')).toBeNull();
    const allNow = screen.getByRole('checkbox', { name: 'Select every cancelable task on this page' }) as HTMLInputElement;
    expect(allNow.disabled).toBe(false);
    fireEvent.click(allNow);
    await waitFor(() => expect(screen.getByTestId('selected-count').textContent).toBe('1 selected'));
  });
});

describe('a bulk action, once run', () => {
  it.each([
    ['cancel', '/tasks', 'Cancel all matching…', 'Yes, cancel 1 task', 'pending'],
    ['run again', '/tasks?status=failed', 'Run all failed again…', 'Yes, run again 1 task', 'failed'],
  ])('%s: the lists and the agents\' queue counts are read again (and a canceled task\'s own page)', async (_what, path, open, confirm, status) => {
    const t = row('t-1', status);
    const { queryClient } = await mountConsole(path, (req, url) => {
      if (url.pathname === '/v1/tasks' && req.method === 'POST') return json(row('t-1-rerun', 'pending'), 201);
      if (url.pathname === '/v1/tasks') return json({ items: (url.searchParams.get('status') ?? status) === status ? [t] : [], nextCursor: null });
      if (url.pathname === `/v1/tasks/${t.id}/cancel`) return json({ ...t, status: 'canceled' });
      return apiError(404, 'NOT_FOUND');
    });
    await screen.findByRole('link', { name: 't-1' });
    queryClient.setQueryData(['agent-stats', AGENT], { pending: 1, running: 0, completed: 0, failed: 0, canceled: 0, oldestPendingAt: null });
    queryClient.setQueryData(['task', t.id], t);
    fireEvent.click(screen.getByRole('button', { name: open }));
    fireEvent.click(await screen.findByRole('button', { name: confirm }));
    fireEvent.click(await screen.findByRole('button', { name: 'Close' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(queryClient.getQueryState(['agent-stats', AGENT])?.isInvalidated).toBe(true);
    if (status === 'pending') expect(queryClient.getQueryState(['task', t.id])?.isInvalidated).toBe(true);
  });
});

describe('an answer that comes after the operator moved on', () => {
  it.each(['Clear', 'Back'])('an agent name looked up, then %s: the late answer does not set the filter', async (how) => {
    const lookup = deferred<Response>();
    const { router, requests } = await mountConsole('/tasks', (_req, url) => {
      if (url.pathname === '/v1/agents/by-name/slow') return lookup.promise;
      if (url.pathname === '/v1/tasks') return json({ items: [], nextCursor: null });
      return apiError(404, 'NOT_FOUND');
    });
    fireEvent.change(await screen.findByRole('combobox', { name: 'Status' }), { target: { value: 'failed' } });
    await waitFor(() => expect(router.state.location.search).toEqual({ status: 'failed' }));
    fireEvent.change(screen.getByRole('textbox', { name: 'Agent (name or id)' }), { target: { value: 'slow' } });
    fireEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    await waitFor(() => expect(requests.some((r) => r.url.endsWith('/v1/agents/by-name/slow'))).toBe(true));
    if (how === 'Clear') fireEvent.click(screen.getByRole('link', { name: 'Clear' }));
    else router.history.back();
    await waitFor(() => expect(router.state.location.search).toEqual({}));
    lookup.resolve(json({ id: AGENT, tenantId: 'tenant-1', name: 'slow', maxConcurrency: 1 }));
    await new Promise((r) => setTimeout(r, 100));
    expect(router.state.location.search).toEqual({});
    expect(screen.queryByTestId('agent-filter')).toBeNull();
    expect((screen.getByRole('button', { name: 'Apply filters' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('"Run all failed again" names the status it counted, though the filter changed while it counted', async () => {
    const failedCount = deferred<Response>();
    const { router } = await mountConsole('/tasks?status=failed', (_req, url) => {
      if (url.pathname === '/v1/tasks' && url.searchParams.get('limit') === '100') return failedCount.promise;
      if (url.pathname === '/v1/tasks') return json({ items: [], nextCursor: null });
      return apiError(404, 'NOT_FOUND');
    });
    fireEvent.click(await screen.findByRole('button', { name: 'Run all failed again…' }));
    await screen.findByRole('button', { name: 'Counting matching tasks…' });
    fireEvent.change(screen.getByRole('combobox', { name: 'Status' }), { target: { value: 'canceled' } });
    await waitFor(() => expect(router.state.location.search).toEqual({ status: 'canceled' }));
    failedCount.resolve(json({ items: [row('f-1', 'failed')], nextCursor: null }));
    const preview = await screen.findByRole('list', { name: 'What run again does' });
    expect(preview.querySelector('[data-count]')?.getAttribute('data-count')).toBe('failed');
    expect(preview.textContent).toContain('1 failed task');
  });
});

describe('a tasks URL with params the page does not understand', () => {
  it('reads a numeric creator, cursor or agent id as its text, a status in any case, a limit given as text', async () => {
    const { validateTaskSearch } = await import('../routes/tasks.js');
    expect(validateTaskSearch({ creator: 42, cursor: 17, agentId: 5, status: 'Failed', limit: '25' })).toEqual({
      creator: '42',
      cursor: '17',
      agentId: '5',
      status: 'failed',
      limit: 25,
    });
  });

  it('names each param it could not use, with what it takes, keeps it in the URL, and lists by the others', async () => {
    const { requests, router } = await mountConsole('/tasks?status=exploded&creator=42&limit=500&colour=red', (_req, url) => {
      if (url.pathname === '/v1/tasks') return json({ items: [], nextCursor: null });
      return apiError(404, 'NOT_FOUND');
    });
    const alert = await screen.findByTestId('unread-params');
    expect([...alert.querySelectorAll('li')].map((li) => li.textContent)).toEqual([
      'status=exploded (one of pending, running, completed, failed, canceled)',
      'limit=500 (a whole number from 1 to 100)',
      'colour=red (not a param of this page)',
    ]);
    expect(router.state.location.search).toMatchObject({ status: 'exploded', limit: 500, colour: 'red' });
    await waitFor(() => expect(requests.some((r) => new URL(r.url).pathname === '/v1/tasks')).toBe(true));
    const asked = new URL(requests.find((r) => new URL(r.url).pathname === '/v1/tasks')!.url).searchParams;
    expect(Object.fromEntries(asked)).toEqual({ creatorUserId: '42', limit: '25' });
  });

  it('says nothing when every param was understood', async () => {
    await mountConsole('/tasks?status=Failed&creator=user:ann&limit=10', (_req, url) => {
      if (url.pathname === '/v1/tasks') return json({ items: [], nextCursor: null });
      return apiError(404, 'NOT_FOUND');
    });
    await screen.findByText('No tasks match');
    expect(screen.queryByTestId('unread-params')).toBeNull();
    expect((screen.getByRole('combobox', { name: 'Status' }) as HTMLSelectElement).value).toBe('failed');
  });
});
