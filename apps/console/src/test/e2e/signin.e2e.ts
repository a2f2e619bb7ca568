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

test('the console runs under its Content-Security-Policy: served with it, never framed, and no page breaks a directive', async ({ page }) => {
  // every violation the browser reports, from the first document on (an init script is the browser's own, not the page's)
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = seen;
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const first = await page.goto(`${gateway()}/console/tasks`);
  const headers = first!.headers();
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['content-security-policy']).toContain("script-src 'self'");
  expect([headers['x-frame-options'], headers['x-content-type-options'], headers['referrer-policy']]).toEqual(['DENY', 'nosniff', 'no-referrer']);
  const bearer = await token('console-csp', 'alice', { roles: ['admin'] });
  await page.getByLabel('Bearer token').fill(bearer);
  await page.getByRole('button', { name: 'Sign in' }).click();
  for (const [link, heading] of [['Agents', 'Agents'], ['Hooks', 'Hooks'], ['Workspaces', 'Workspaces'], ['Authz', 'Authz'], ['Tasks', 'Tasks']]) {
    await page.getByRole('link', { name: link, exact: true }).click();
    await expect(page.getByRole('heading', { name: heading, level: 1 })).toBeVisible();
  }
  // a page that frames the console gets nothing: the browser refuses to render it in the frame
  const framed = await page.context().newPage();
  await framed.route(`${gateway()}/framer-test`, (route) => route.fulfill({ contentType: 'text/html', body: `<iframe src="${gateway()}/console/tasks"></iframe>` }));
  await framed.goto(`${gateway()}/framer-test`, { waitUntil: 'load' }); // the frame's own load (or its refusal) comes first
  const inFrame = framed.frames().find((f) => f !== framed.mainFrame());
  expect(await inFrame?.evaluate(() => document.title).catch(() => 'refused')).not.toBe('Agentplane console');
  expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
});

test('the console arrives compressed: its hashed build files kept for a year, the page asked for again', async ({ page }) => {
  const seen: Array<{ path: string; encoding?: string; cache?: string }> = [];
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/console/')) seen.push({ path, encoding: r.headers()['content-encoding'], cache: r.headers()['cache-control'] });
  });
  await page.goto(`${gateway()}/console/`);
  await expect(page.getByRole('heading', { name: 'Sign in to Agentplane' })).toBeVisible();
  const built = seen.filter((r) => /^\/console\/assets\/.+\.(js|css)$/.test(r.path));
  expect(built.map((r) => r.path.split('.').at(-1)).sort()).toEqual(['css', 'js']);
  // the build wrote the brotli forms (scripts/precompress.mjs), and Chromium accepts them
  for (const r of built) expect(r).toMatchObject({ encoding: 'br', cache: 'public, max-age=31536000, immutable' });
  expect(seen.find((r) => r.path === '/console/')).toMatchObject({ cache: 'no-cache' });
});
