import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { ExplainPath } from '../components/ExplainPath.js';
import { tokenTenant } from '../api/session.js';

describe('explain path', () => {
  it('an allowed answer shows the granting chain in order', () => {
    const path = ['task:t1#tenant@tenant:acme', 'task:t1#parent@agent:a1', 'agent:a1#read@user:bob'];
    render(<ExplainPath explanation={{ allowed: true, reason: 'inherited_grant', path }} />);
    expect(screen.getByTestId('decision').textContent).toBe('allowed');
    expect(screen.getByTestId('reason').textContent).toBe('inherited_grant');
    const list = screen.getByRole('list', { name: 'Granting path' });
    expect(within(list).getAllByRole('listitem').map((li) => li.textContent)).toEqual(path);
    expect(list.querySelector('[data-missing]')).toBeNull();
  });

  it('a denied answer marks what was missing', () => {
    const path = ['task:t1#tenant@tenant:acme', 'missing tenant:acme#admin@user:eve', 'missing task:t1#read@user:eve'];
    render(<ExplainPath explanation={{ allowed: false, reason: 'no_relation', path }} />);
    expect(screen.getByTestId('decision').textContent).toBe('denied');
    const items = within(screen.getByRole('list', { name: 'What was missing' })).getAllByRole('listitem');
    expect(items.map((li) => li.textContent)).toEqual(['task:t1#tenant@tenant:acme', 'missing tenant:acme#admin@user:eve', 'missing task:t1#read@user:eve']);
    expect(items.map((li) => li.dataset.missing === 'true')).toEqual([false, true, true]);
  });

  it('the tenant comes from the token tid claim', () => {
    const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    expect(tokenTenant(`${b64({ alg: 'HS256' })}.${b64({ tid: 'acme', sub: 'alice' })}.sig`)).toBe('acme');
    expect(tokenTenant('not-a-jwt')).toBeNull();
  });
});
