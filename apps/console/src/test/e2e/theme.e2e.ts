import { expect, test, type Page } from '@playwright/test';
import { agentWithWorker, claim, expectAccessible, gateway, rest, screenshot, signIn, token, uniq, until } from './fixtures.js';

const background = (page: Page) => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);

test.describe('where the system asks for dark', () => {
  test.use({ colorScheme: 'dark' });

  test('the console is dark, and every status, badge, state and dialog stays readable (axe)', async ({ page }, info) => {
    const alice = await token('console-theme', 'alice', { roles: ['admin'] });
    const { agentId, worker } = await agentWithWorker('console-theme', alice, alice, 'theme-bot');
    const create = async (label: string, extra: object = {}) => (await rest<{ id: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq(label), ...extra }, [201])).body.id;
    // the task's own registration may lag its creation: the worker retries until it may execute it
    const asWorker = (path: string, body: object) => until(() => rest('POST', path, worker, body), (r) => r.status === 200);
    const fail = (id: string, lease: string) => asWorker(`/v1/tasks/${id}/fail`, { leaseToken: lease, error: { message: 'upstream answered 502' } });
    // one task in each state, each claimed before the next exists (a claim takes the oldest pending task)
    const retried = await create('retried-then-done', { maxAttempts: 2, retry: { initialIntervalMs: 1 } });
    await fail(retried, await claim(agentId, worker, retried));
    await asWorker(`/v1/tasks/${retried}/complete`, { leaseToken: await claim(agentId, worker, retried), result: {} });
    const failed = await create('failed', { maxAttempts: 1 });
    await fail(failed, await claim(agentId, worker, failed));
    const running = await create('running');
    await claim(agentId, worker, running);
    await rest('POST', `/v1/tasks/${await create('canceled')}/cancel`, alice, undefined, [200]);
    await create('pending');

    await signIn(page, alice);
    expect(await background(page)).toBe('rgb(13, 17, 23)');
    const rows = page.getByRole('table', { name: 'Tasks' }).locator('tbody tr');
    await expect(rows).toHaveCount(5);
    await expectAccessible(page);
    await screenshot(page, info, 'tasks-dark');

    await page.goto(`${gateway()}/console/tasks/${retried}`);
    await expect(page.getByRole('table', { name: 'Attempts' }).locator('tbody tr')).toHaveCount(2);
    await expectAccessible(page);

    await page.goto(`${gateway()}/console/tasks/${running}`);
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await expect(page.getByRole('dialog')).toContainText('The task is running');
    await expectAccessible(page);
    await page.keyboard.press('Escape');

    await page.goto(`${gateway()}/console/tasks/00000000-0000-4000-8000-000000000000`);
    await expect(page.getByRole('alert')).toContainText('NOT_FOUND');
    await expectAccessible(page);

    await page.getByRole('link', { name: 'Agents' }).click();
    await expect(page.getByRole('table', { name: 'Agents and their queues' })).toBeVisible();
    await expectAccessible(page);
  });
});

test('where it does not, the console is light', async ({ page }) => {
  await signIn(page, await token('console-theme', 'bob'));
  expect(await background(page)).toBe('rgb(255, 255, 255)');
});
