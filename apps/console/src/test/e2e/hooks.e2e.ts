import { expect, test } from '@playwright/test';
import { expectAccessible, rest, screenshot, signIn, token, uniq } from './fixtures.js';

const digest = (label: string) => `sha256:${Buffer.from(label.padEnd(32, '.')).toString('hex').slice(0, 64).padEnd(64, '0')}`;

test('rolls a hook back through the set-live dialog, which shows the diff and calls PUT /v1/hooks/{name}/live', async ({ page }, info) => {
  const admin = await token('console-hooks', 'alice', { roles: ['admin'] });
  const name = uniq('enrich');
  await rest('POST', '/v1/conventions', admin, {
    slug: uniq('crm'),
    schema: { fields: ['lead'] },
    hooks: [{ name, feature: `${name}.v1`, release: { image: 'registry.example.test/enrich:1.0', digest: digest('v1'), config: { threads: 2 }, sourceRef: 'git:aaa111' } }],
  }, [201]);
  await rest('POST', `/v1/hooks/${name}/releases`, admin, { image: 'registry.example.test/enrich:1.1', digest: digest('v2'), config: { threads: 4 }, sourceRef: 'git:aaa111' }, [201]);

  await signIn(page, admin, '/hooks');
  const catalogRow = page.getByRole('table', { name: 'Hooks' }).locator('tbody tr', { hasText: name });
  await expect(catalogRow).toContainText('v2');
  await expectAccessible(page);
  await catalogRow.getByRole('link', { name }).click();

  await expect(page.getByRole('heading', { level: 1 })).toContainText('live v2');
  const releases = page.getByRole('table', { name: 'Releases' });
  await expect(releases.locator('tr[data-version="2"]')).toContainText('live');
  await expect(releases.locator('tr[data-version="1"] .badge-live')).toHaveCount(0);
  await expectAccessible(page);

  // keyboard: the dialog opens from the button with Enter and Escape closes it without a change
  await releases.getByRole('button', { name: 'Set v1 live' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  // focus is back on the button that opened it, not fallen to the page's top (the dialog left the page open)
  await expect(releases.getByRole('button', { name: 'Set v1 live' })).toBeFocused();
  await page.keyboard.press('Enter');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(releases.getByRole('button', { name: 'Set v1 live' })).toBeFocused();

  await releases.getByRole('button', { name: 'Set v1 live' }).click();
  await expect(dialog.getByRole('heading')).toHaveText(`Set ${name} live: v2 → v1`);
  const diff = dialog.getByRole('table', { name: 'What changes' });
  await expect(diff.locator('tr[data-field="digest"]')).toHaveAttribute('data-changed', 'true');
  await expect(diff.locator('tr[data-field="image"]')).toContainText('registry.example.test/enrich:1.1');
  await expect(diff.locator('tr[data-field="image"]')).toContainText('registry.example.test/enrich:1.0');
  await expect(diff.locator('tr[data-field="config"]')).toHaveAttribute('data-changed', 'true');
  await expect(diff.locator('tr[data-field="sourceRef"]')).toHaveAttribute('data-changed', 'false');
  await expectAccessible(page);
  await screenshot(page, info, 'hook', true);

  // the console uses the user's own door: PUT /v1/hooks/{name}/live {version: 1}
  const put = page.waitForRequest((r) => r.url().endsWith(`/v1/hooks/${name}/live`));
  await dialog.getByRole('button', { name: 'Set v1 live' }).click();
  const req = await put;
  expect(req.method()).toBe('PUT');
  expect(req.postDataJSON()).toEqual({ version: 1 });

  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('live v1');
  await expect(releases.locator('tr[data-version="1"]')).toContainText('live');
  const history = page.getByRole('table', { name: 'Live pointer history' });
  await expect(history.locator('tbody tr').first()).toContainText('set_live');
  const hook = await rest<{ liveVersion: number }>('GET', `/v1/hooks/${name}`, admin, undefined, [200]);
  expect(hook.body.liveVersion).toBe(1);
  await screenshot(page, info, 'hook-rolled-back');
});
