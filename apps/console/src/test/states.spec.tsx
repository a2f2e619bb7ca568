import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { ApiError } from '../api/client.js';
import { ErrorBanner, QueryState } from '../components/states.js';

describe('states', () => {
  it('an API error shows its code and message', () => {
    render(<ErrorBanner error={new ApiError(409, 'CONFLICT', 'task is already terminal')} />);
    expect(screen.getByRole('alert').textContent).toContain('CONFLICT');
    expect(screen.getByRole('alert').textContent).toContain('task is already terminal');
  });

  it('a VALIDATION answer lists every field it named, not only the first the message quotes', () => {
    const issues = [
      { path: 'agentId', message: 'Invalid UUID' },
      { path: 'name', message: 'Too small' },
      { path: '', message: 'Unrecognized key: "nme"' },
    ];
    render(<ErrorBanner error={new ApiError(400, 'VALIDATION', 'agentId: Invalid UUID', issues)} />);
    const items = screen.getAllByRole('listitem').map((li) => li.textContent);
    expect(items).toEqual(['agentId: Invalid UUID', 'name: Too small', '(body): Unrecognized key: "nme"']);
  });

  it('a 500 shows its error id, which the log line has too', () => {
    render(<ErrorBanner error={new ApiError(500, 'INTERNAL', 'internal error', [], 'a1b2c3d4-0000-4000-8000-000000000000')} />);
    expect(screen.getByRole('alert').textContent).toContain('a1b2c3d4-0000-4000-8000-000000000000');
  });

  it('an error names the request it answered, when the gateway said it', () => {
    render(<ErrorBanner error={new ApiError(404, 'NOT_FOUND', 'task not found', [], undefined, 'req-7f3a')} />);
    expect(screen.getByRole('alert').textContent).toContain('Request id req-7f3a');
  });

  it('a 403 is the forbidden state, not an error', () => {
    render(<ErrorBanner error={new ApiError(403, 'FORBIDDEN', 'no read on agent')} />);
    expect(screen.getByRole('heading', { name: 'Forbidden' })).toBeTruthy();
  });

  it('a pending query shows loading, never a blank page', () => {
    render(
      <QueryState query={{ isPending: true, isError: false, error: null, data: undefined }} what="tasks">
        {() => <p>data</p>}
      </QueryState>,
    );
    expect(screen.getByRole('status').textContent).toBe('Loading tasks…');
  });
});
