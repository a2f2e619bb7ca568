import { expect, test } from '@playwright/test';
import { expectAccessible, rest, screenshot, signIn, token } from './fixtures.js';

test('the workspace tree shows the platform agent flip online after its heartbeat', async ({ page }, info) => {
  const org = 'console-ws';
  const admin = await token(org, 'alice', { roles: ['admin'] });
  const ops = await rest<{ id: string }>('POST', '/v1/workspaces', admin, { name: 'ops' }, [201]);
  const installed = await rest<{ platformAgentId: string }>('POST', '/v1/platform-agent/install', admin, {}, [201]);
  await rest('POST', '/v1/workspaces', admin, { name: 'data', parentId: ops.body.id }, [201]);

  await signIn(page, admin, '/workspaces');
  const tree = page.getByRole('navigation', { name: 'Workspace tree' });
  const platformName = (await rest<{ name: string }>('GET', `/v1/workspaces/${installed.body.platformAgentId}`, admin, undefined, [200])).body.name;
  const platform = tree.locator(`li[data-workspace="${platformName}"]`);
  await expect(platform.locator('.ws').first()).toContainText('offline');
  await expect(platform.locator('.ws').first()).toContainText('heartbeat never');
  // ops hangs under the platform agent, data under ops
  await expect(platform.locator('li[data-workspace="ops"] li[data-workspace="data"]')).toBeVisible();
  await expectAccessible(page);

  const account = await token(org, installed.body.platformAgentId, { serviceAccount: true });
  await rest('POST', `/v1/workspaces/${installed.body.platformAgentId}/heartbeat`, account, undefined, [200]);
  await expect(platform.locator('.ws').first()).toContainText('online');
  await expect(platform.locator('.ws').first()).toContainText(/heartbeat \d+ s ago/);
  await screenshot(page, info, 'workspaces');
});

test('a tenant admin enables a plugin on a root, then installs the platform agent from the page and sees the tree under it', async ({ page }, info) => {
  const org = 'console-ws-plugins';
  const admin = await token(org, 'alice', { roles: ['admin'] });
  const ops = await rest<{ id: string; name: string }>('POST', '/v1/workspaces', admin, { name: 'ops' }, [201]);
  await rest('POST', '/v1/workspaces', admin, { name: 'sales' }, [201]);

  const changeReads: string[] = [];
  page.on('request', (r) => void (r.url().includes('/plugin-changes') && changeReads.push(r.url())));
  await signIn(page, admin, '/workspaces');
  const opsPlugins = page.getByRole('region', { name: 'Plugins of ops' });
  await expect(opsPlugins).toContainText('No plugin allowed yet.');
  await opsPlugins.getByLabel('Plugin', { exact: true }).fill('crm-sync');
  await opsPlugins.getByRole('button', { name: 'Enable', exact: true }).click();
  const row = opsPlugins.getByRole('table', { name: 'Plugin allowlist of ops' }).locator('tr[data-plugin="crm-sync"]');
  await expect(row).toContainText('alice');
  const listed = await rest<{ items: Array<{ plugin: string }> }>('GET', `/v1/workspaces/${ops.body.id}/plugins`, admin, undefined, [200]);
  expect(listed.body.items.map((p) => p.plugin)).toEqual(['crm-sync']);
  await expectAccessible(page);

  await page.getByRole('button', { name: 'Install platform agent' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('heading')).toHaveText('Install the platform agent?');
  await expectAccessible(page);
  await dialog.getByRole('button', { name: 'Install', exact: true }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.getByTestId('install-result')).toContainText(' installed: 2 reparented, 1 allowlist entries moved');

  const tree = page.getByRole('navigation', { name: 'Workspace tree' });
  const roots = tree.locator(':scope > ul > li');
  await expect(roots).toHaveCount(1);
  const platformName = await roots.first().getAttribute('data-workspace');
  await expect(roots.first().locator('li[data-workspace="ops"]')).toBeVisible();
  await expect(roots.first().locator('li[data-workspace="sales"]')).toBeVisible();
  // the allowlist moved onto the new root
  await expect(page.getByRole('region', { name: `Plugins of ${platformName}` }).locator('tr[data-plugin="crm-sync"]')).toBeVisible();
  await expect(page.getByRole('region', { name: 'Plugins of ops' })).toHaveCount(0);
  await expectAccessible(page);
  await screenshot(page, info, 'workspaces-installed');

  // the allowlist's changes say what happened to it, newest first, and who did it: the move, then (open) the disable
  const platformPlugins = page.getByRole('region', { name: `Plugins of ${platformName}` });
  expect(changeReads).toEqual([]); // read when opened, not with the page
  await platformPlugins.locator('summary', { hasText: 'Changes to the allowlist' }).click();
  const changes = platformPlugins.getByRole('table', { name: `Allowlist changes of ${platformName}` }).locator('tbody tr');
  await expect(changes).toHaveCount(1);
  await platformPlugins.getByRole('button', { name: 'Disable crm-sync' }).click();
  await expect(platformPlugins).toContainText('No plugin allowed yet.');
  await expect(changes).toHaveCount(2);
  await expect(changes.nth(0)).toHaveAttribute('data-change', 'disabled');
  await expect(changes.nth(1)).toHaveAttribute('data-change', 'moved_in');
  await expect(changes.nth(0)).toContainText('user:alice');
  await expect(changes.nth(1)).toContainText('moved in from a former root');
  await expectAccessible(page);

  // installing again says so, and changes nothing
  await page.getByRole('button', { name: 'Install platform agent' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Install', exact: true }).click();
  await expect(page.getByTestId('install-result')).toContainText(`${platformName} (`);
  await expect(page.getByTestId('install-result')).toContainText('was installed already: 0 reparented, 0 allowlist entries moved');
  await expect(roots).toHaveCount(1);
  await expect(changes).toHaveCount(2);
});

test('the removed workspaces are listed apart, with who removed each and when, read when opened', async ({ page }) => {
  const org = 'console-ws-removed';
  const admin = await token(org, 'alice', { roles: ['admin'] });
  const member = await token(org, 'max');
  await rest('POST', '/v1/workspaces', member, { name: 'kept' }, [201]);
  const old = await rest<{ id: string }>('POST', '/v1/workspaces', member, { name: 'old-team' }, [201]);
  await rest('DELETE', `/v1/workspaces/${old.body.id}`, admin, undefined, [204]);

  const removedReads: string[] = [];
  page.on('request', (r) => void (r.url().includes('status=removed') && removedReads.push(r.url())));
  await signIn(page, member, '/workspaces');
  const tree = page.getByRole('navigation', { name: 'Workspace tree' });
  await expect(tree.locator('li[data-workspace="kept"]')).toBeVisible();
  await expect(tree.locator('li[data-workspace="old-team"]')).toHaveCount(0);
  expect(removedReads).toEqual([]); // read when opened, not with the page
  await page.locator('summary', { hasText: 'Removed workspaces' }).click();
  const row = page.getByRole('table', { name: 'Removed workspaces' }).locator('tbody tr');
  await expect(row).toHaveCount(1);
  await expect(row).toHaveAttribute('data-removed', 'old-team');
  await expect(row).toContainText(old.body.id);
  await expect(row.locator('td').nth(1)).toHaveText('user:max');
  await expect(row.locator('td').nth(2)).toHaveText('user:alice');
  await expect(row.locator('time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/);
  expect(removedReads).toHaveLength(1);
  await expectAccessible(page);
});
