import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { ReleaseDiff, type Release } from '../components/ReleaseDiff.js';

const release = (version: number, over: Partial<Release> = {}): Release => ({
  id: `00000000-0000-4000-8000-00000000000${version}`,
  hookId: '00000000-0000-4000-8000-000000000000',
  hookName: 'enrich',
  version,
  image: 'registry.example/enrich:1',
  digest: `sha256:${String(version).repeat(64)}`,
  config: { threads: 2 },
  sourceRef: 'git:abc',
  builtBy: 'user:alice',
  builtAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

describe('ReleaseDiff', () => {
  it('marks what a live change would change and leaves the rest as same', () => {
    render(<ReleaseDiff current={release(2, { image: 'registry.example/enrich:2', config: { threads: 4 } })} target={release(1)} />);
    const table = screen.getByRole('table', { name: 'What changes' });
    const row = (field: string) => table.querySelector(`tr[data-field="${field}"]`) as HTMLElement;
    expect(row('digest').dataset.changed).toBe('true');
    expect(row('image').dataset.changed).toBe('true');
    expect(row('config').dataset.changed).toBe('true');
    expect(row('sourceRef').dataset.changed).toBe('false');
    expect(within(row('config')).getByText('{"threads":4}')).toBeTruthy();
    expect(within(row('config')).getByText('{"threads":2}')).toBeTruthy();
    expect(screen.getByRole('columnheader', { name: 'current v2' })).toBeTruthy();
    expect(screen.getByRole('columnheader', { name: 'target v1' })).toBeTruthy();
  });
});
