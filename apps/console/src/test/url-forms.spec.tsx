import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { apiError, json, mountConsole } from './app.js';

afterEach(() => vi.unstubAllGlobals());

/** A field of the form named `form`, by its label. */
const field = (form: string, name: string) =>
  within(screen.getByRole('form', { name: form })).getByRole(name === 'Action' ? 'combobox' : 'textbox', { name }) as HTMLInputElement;

describe('a form whose fields live in the URL follows it back', () => {
  it('Authz explain: after Back the form names the subject, action and resource explained', async () => {
    const { router } = await mountConsole('/authz?subject=user:ann&action=read&resource=task:a', async (req, url) => {
      if (url.pathname === '/v1/authz/explain') {
        const body = (await req.json()) as { resource: string };
        return json({ allowed: true, reason: 'direct_grant', path: [`${body.resource}#read@user:ann`] });
      }
      if (url.pathname.startsWith('/v1/authz/tenants/')) return json({ tenantId: 'tenant-1', mode: 'enforce', coverage: {}, shadowMismatches: 0 });
      return apiError(404, 'NOT_FOUND');
    });
    await screen.findByText('task:a#read@user:ann');
    fireEvent.change(field('Explain access', 'Subject (optional)'), { target: { value: 'user:bob' } });
    fireEvent.change(field('Explain access', 'Action'), { target: { value: 'cancel' } });
    fireEvent.change(field('Explain access', 'Resource'), { target: { value: 'task:b' } });
    fireEvent.click(screen.getByRole('button', { name: 'Explain' }));
    await screen.findByText('task:b#read@user:ann');
    router.history.back();
    await screen.findByText('task:a#read@user:ann');
    const form = ['Subject (optional)', 'Action', 'Resource'].map((name) => () => field('Explain access', name).value);
    await waitFor(() => expect(form.map((v) => v())).toEqual(['user:ann', 'read', 'task:a']));
  });

  it('Provenance: after Back the output field names the output whose chain is shown', async () => {
    const { router } = await mountConsole('/provenance?output=out-a', (_req, url) => apiError(404, 'NOT_FOUND', `no ${url.pathname.split('/')[3]}`));
    await screen.findByText(/no out-a/);
    fireEvent.change(field('Find an output', 'Output id'), { target: { value: 'out-b' } });
    fireEvent.click(screen.getByRole('button', { name: 'Trace' }));
    await screen.findByText(/no out-b/);
    router.history.back();
    await screen.findByText(/no out-a/);
    await waitFor(() => expect(field('Find an output', 'Output id').value).toBe('out-a'));
  });
});
