import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { apiError, deferred, json, mountConsole } from './app.js';

const ID = '7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11';
const AGENT = '0d5c2f4e-9a1b-4c3d-8e7f-6a5b4c3d2e1f';

const task = (status: string) => ({
  id: ID,
  tenantId: 'tenant-1',
  agentId: AGENT,
  name: 'nightly',
  status,
  params: {},
  priority: 0,
  attempt: 1,
  maxAttempts: 3,
  cancelRequested: false,
  createdAt: '2026-01-01T00:00:00.000Z',
});

const release = (version: number) => ({
  id: `00000000-0000-4000-8000-00000000000${version}`,
  hookId: '00000000-0000-4000-8000-000000000000',
  hookName: 'enrich',
  version,
  image: `registry.example/enrich:${version}`,
  digest: `sha256:${String(version).repeat(64)}`,
  config: {},
  sourceRef: null,
  builtBy: 'user:alice',
  builtAt: '2026-01-01T00:00:00.000Z',
});

afterEach(() => vi.unstubAllGlobals());

/** The element with keyboard focus, by its accessible text, for a readable failure. */
const focused = () => (document.activeElement === document.body ? '<body>' : (document.activeElement?.textContent ?? String(document.activeElement)));

describe('keyboard focus when a dialog closes', () => {
  it('Set vN live: Cancel gives focus back to the button that opened the dialog', async () => {
    const user = userEvent.setup();
    await mountConsole('/hooks/enrich', (_req, url) => {
      if (url.pathname === '/v1/hooks/enrich') return json({ id: 'h', name: 'enrich', feature: 'f', createdBy: 'user:alice', liveVersion: 2 });
      if (url.pathname === '/v1/hooks/enrich/releases') return json({ items: [release(2), release(1)], nextCursor: null });
      if (url.pathname === '/v1/hooks/enrich/live-changes') return json({ items: [], nextCursor: null });
      return apiError(404, 'NOT_FOUND');
    });
    const trigger = await screen.findByRole('button', { name: 'Set v1 live' });
    await user.click(trigger);
    await user.click(await screen.findByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull());
    expect(focused()).toBe('Set v1 live');
  });

  it.each([
    ['Run again…', 'failed'],
    ['Delete task…', 'running'],
  ])('%s on the task page: Cancel gives focus back to it', async (open, status) => {
    const user = userEvent.setup();
    await mountConsole(`/tasks/${ID}`, (_req, url) => {
      if (url.pathname === `/v1/tasks/${ID}`) return json(task(status));
      if (url.pathname === `/v1/tasks/${ID}/events`) return new Response(': quiet\n\n', { headers: { 'content-type': 'text/event-stream' } });
      return apiError(404, 'NOT_FOUND');
    });
    await user.click(await screen.findByRole('button', { name: open }));
    await user.click(await screen.findByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(focused()).toBe(open);
  });

  it('a bulk cancel: focus moves from Confirm to Stop to Close, then back to "Cancel all matching…"', async () => {
    const user = userEvent.setup();
    const cancelAnswer = deferred<Response>();
    await mountConsole('/tasks', (req, url) => {
      if (url.pathname === '/v1/tasks') return json({ items: url.searchParams.get('status') === 'running' ? [] : [task('pending')], nextCursor: null });
      if (url.pathname === `/v1/tasks/${ID}/cancel` && req.method === 'POST') return cancelAnswer.promise;
      return apiError(404, 'NOT_FOUND');
    });
    await screen.findByRole('link', { name: 'nightly' });
    await user.click(screen.getByRole('button', { name: 'Cancel all matching…' }));
    await user.click(await screen.findByRole('button', { name: 'Yes, cancel 1 task' }));
    await screen.findByRole('button', { name: 'Stop' });
    expect(focused()).toBe('Stop');
    cancelAnswer.resolve(json(task('canceled')));
    await screen.findByRole('button', { name: 'Close' });
    expect(focused()).toBe('Close');
    await user.keyboard('{Enter}');
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Close' })).toBeNull());
    expect(focused()).toBe('Cancel all matching…');
  });
});
