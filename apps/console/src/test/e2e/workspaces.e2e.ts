import { expect, test } from '@playwright/test';
import { expectAccessible, rest, screenshot, signIn, token } from './fixtures.js';

test('the workspace tree shows the platform agent flip online after its heartbeat', async ({ page }, info) => {
  const org = 'console-ws';
  const admin = await token(org, 'alice', { roles: ['admin'] });
  const ops = await rest<{ id: string }>('POST', '/v1/workspaces', admin, { name: 'ops' }, [201]);
  const installed = await rest<{ platformAgentId: string }>('POST', '/v1/platform-agent/install', admin, {}, [200]);
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
