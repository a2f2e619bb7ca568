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
