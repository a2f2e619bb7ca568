import { expect, test } from '@playwright/test';
import { expectAccessible, gateway, screenshot, token } from './fixtures.js';

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
