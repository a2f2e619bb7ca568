import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';

const task = {
  id: '7b0c7c7e-4a57-4d1b-9f83-2d5d3b0b8a11',
  name: 'nightly',
  status: 'running',
} as const;

describe('DeleteTaskDialog', () => {
  it('says what a delete does to the task by its status', async () => {
    const { deleteConsequence } = await import('../components/DeleteTask.js');
    expect(deleteConsequence('pending')).toMatch(/no worker will run it/);
    expect(deleteConsequence('running')).toMatch(/cancel the task instead/);
    expect(deleteConsequence('failed')).toMatch(/has ended \(failed\)/);
  });

  it('asks again under the same key after a lost answer, so the retry gets the stored 204, not a NOT_FOUND', async () => {
    vi.resetModules(); // the API client keeps the fetch it was made with
    const requests: Request[] = [];
    vi.stubGlobal('fetch', async (req: Request) => {
      requests.push(req);
      if (requests.length === 1) throw new TypeError('network is down');
      return new Response(null, { status: 204 });
    });
    const { DeleteTaskDialog } = await import('../components/DeleteTask.js');
    const onDeleted = vi.fn();
    render(
      <QueryClientProvider client={new QueryClient()}>
        <DeleteTaskDialog task={task as never} onClose={() => undefined} onDeleted={onDeleted} />
      </QueryClientProvider>,
    );
    expect(screen.getByRole('heading', { name: 'Delete task nightly?' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Yes, delete the task' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('NETWORK'));
    fireEvent.click(screen.getByRole('button', { name: 'Yes, delete the task' }));
    await waitFor(() => expect(onDeleted).toHaveBeenCalledTimes(1));
    expect(requests.map((r) => [r.method, new URL(r.url).pathname])).toEqual([
      ['DELETE', `/v1/tasks/${task.id}`],
      ['DELETE', `/v1/tasks/${task.id}`],
    ]);
    const keys = requests.map((r) => r.headers.get('idempotency-key'));
    expect(keys[0]).toMatch(/^console-delete:[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    vi.unstubAllGlobals();
  });
});
