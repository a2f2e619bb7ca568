import { expect, test } from '@playwright/test';
import { expectAccessible, gateway, rest, screenshot, token, uniq } from './fixtures.js';

test('sign in by pasting a token, sign out, and a rejected token returns to sign-in with the reason', async ({ page }, info) => {
  await page.goto(`${gateway()}/console/tasks?status=running`);
  // a deep link without a session lands on sign-in (the gateway answers index.html for it)
  await expect(page.getByRole('heading', { name: 'Sign in to Agentplane' })).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, info, 'signin');

  // keyboard only: Tab reaches the token field, then the button
  const bearer = await token('console-signin', 'alice', { roles: ['admin'] });
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Bearer token')).toBeFocused();
  await page.keyboard.insertText(bearer);
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Tasks', exact: true })).toBeVisible();
  // back to the deep link that asked for the session, its filter too
  await expect(page).toHaveURL(/\/console\/tasks\?status=running$/);
  await expect(page.getByLabel('Status')).toHaveValue('running');
  await expect(page.getByRole('heading', { name: 'No tasks match' })).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem('agentplane.token'))).toMatch(/^ey/);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Agentplane' })).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem('agentplane.token'))).toBeNull();

  // a token the gateway refuses (another secret): the first 401 ends the session and says why
  await page.getByLabel('Bearer token').fill('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('UNAUTHENTICATED');
  await expect(page.getByRole('heading', { name: 'Sign in to Agentplane' })).toBeVisible();
});

test('a link to a task\'s event, opened without a session, is where sign-in returns to', async ({ page }) => {
  const alice = await token('console-signin-link', 'alice', { roles: ['admin'] });
  const agent = (await rest<{ id: string }>('POST', '/v1/agents', alice, { name: uniq('agent') }, [201])).body;
  const task = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId: agent.id, name: uniq('linked') }, [201])).body;
  await page.goto(`${gateway()}/console/tasks/${task.id}#event-1`);
  await expect(page.getByRole('heading', { name: 'Sign in to Agentplane' })).toBeVisible();
  await page.getByLabel('Bearer token').fill(alice);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(task.name);
  await expect(page).toHaveURL(new RegExp(`/console/tasks/${task.id}#event-1$`));
  await expect(page.locator('#event-1')).toHaveAttribute('aria-current', 'true');
});
