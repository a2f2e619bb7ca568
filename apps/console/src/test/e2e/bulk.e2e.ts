import { expect, test, type Page } from '@playwright/test';
import { agentWithWorker, claim, expectAccessible, rest, screenshot, signIn, token, uniq, until } from './fixtures.js';

const TENANT = 'console-bulk';
const rows = (page: Page) => page.getByRole('table', { name: 'Tasks' }).locator('tbody tr');
const row = (page: Page, name: string) => rows(page).filter({ hasText: name });
const statusOf = async (id: string, bearer: string) => (await rest<{ status: string; cancelRequested: boolean }>('GET', `/v1/tasks/${id}`, bearer, undefined, [200])).body;

test('bulk cancel: ticked rows, then every task matching the filters, with a count preview and what happened to each', async ({ page }, info) => {
  const root = await token(TENANT, 'root', { roles: ['admin'] });
  const alice = await token(TENANT, 'alice');
  const carol = await token(TENANT, 'carol');
  // carol owns agent B and its tasks; she may read alice's agent A but not cancel its tasks
  const { agentId: agentB, worker } = await agentWithWorker(TENANT, carol, root, 'bulk-bot');
  const create = async (bearer: string, agentId: string, label: string) =>
    (await rest<{ id: string; name: string }>('POST', '/v1/tasks', bearer, { agentId, name: uniq(label) }, [201])).body;
  // a claim takes the oldest pending task first: the ones to run are created and claimed before the ones left pending
  const running = await create(carol, agentB, 'train');
  const runningLease = await claim(agentB, worker, running.id);
  const done = await create(carol, agentB, 'report');
  const doneLease = await claim(agentB, worker, done.id);
  await rest('POST', `/v1/tasks/${done.id}/complete`, worker, { leaseToken: doneLease, result: { ok: true } }, [200]);
  const pending = [await create(carol, agentB, 'crawl'), await create(carol, agentB, 'embed'), await create(carol, agentB, 'summarize')];
  const agentA = (await rest<{ id: string }>('POST', '/v1/agents', alice, { name: uniq('agent') }, [201])).body.id;
  const guarded = await create(alice, agentA, 'guarded');
  await until(() => rest('POST', '/v1/authz/grants', root, { subject: 'user:carol', action: 'read', resource: `agent:${agentA}` }), (r) => r.status === 201);
  await until(() => rest('GET', `/v1/tasks/${guarded.id}`, carol), (r) => r.status === 200);

  // 1. ticked rows: the page's box ticks every cancelable row of the page, a row can be unticked
  await signIn(page, carol, `/tasks?agentId=${agentB}&status=pending`);
  await expect(rows(page)).toHaveCount(3);
  const selectedCount = page.getByTestId('selected-count');
  await expect(selectedCount).toHaveText('0 selected');
  await expect(page.getByRole('button', { name: 'Cancel selected…' })).toBeDisabled();
  const pageBox = page.getByRole('checkbox', { name: 'Select every cancelable task on this page' });
  await pageBox.check();
  await expect(selectedCount).toHaveText('3 selected');
  await page.getByRole('checkbox', { name: `Select ${pending[2]!.name}` }).uncheck();
  await expect(selectedCount).toHaveText('2 selected');
  expect(await pageBox.evaluate((el: HTMLInputElement) => el.indeterminate)).toBe(true);
  // the ticks survive a change of filter: the ended task's box is there but cannot be ticked
  await page.getByLabel('Status').selectOption('');
  await expect(rows(page)).toHaveCount(5);
  await expect(row(page, done.name).getByRole('checkbox')).toBeDisabled();
  await expect(selectedCount).toHaveText('2 selected');

  await page.getByRole('button', { name: 'Cancel selected…' }).click();
  const dialog = page.getByRole('dialog');
  const summary = dialog.getByRole('list', { name: 'Summary' });
  await expect(dialog.getByRole('heading', { name: 'Cancel 2 tasks?' })).toBeVisible();
  await expect(dialog.locator('[data-count="pending"]')).toContainText('2 pending tasks: canceled at once');
  await expect(dialog.locator('[data-count="running"]')).toHaveCount(0);
  await expectAccessible(page);
  await dialog.getByRole('button', { name: 'Yes, cancel 2 tasks' }).click();
  await expect(dialog.getByRole('heading', { name: 'Cancel: finished' })).toBeVisible();
  await expect(summary.locator('[data-outcome="canceled"]')).toHaveText('2 pending tasks canceled: no worker runs them');
  await expect(dialog).toContainText('2 of 2 done');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();
  await expect(selectedCount).toHaveText('0 selected');
  expect((await statusOf(pending[0]!.id, carol)).status).toBe('canceled');
  expect((await statusOf(pending[1]!.id, carol)).status).toBe('canceled');
  expect((await statusOf(pending[2]!.id, carol)).status).toBe('pending');
  await expect(row(page, pending[0]!.name)).toHaveAttribute('data-status', 'canceled');

  // 2. every task matching the filters (none set: all carol can read), counted before anything is canceled
  await page.getByRole('link', { name: 'Clear', exact: true }).click();
  await expect(rows(page)).toHaveCount(6);
  // Clear empties the fields too, not only the URL: applying again must not bring the old agent back
  await expect(page.getByLabel('Agent (name or id)')).toHaveValue('');
  await page.getByRole('button', { name: 'Cancel all matching…' }).click();
  await expect(dialog.getByRole('heading', { name: 'Cancel 3 tasks?' })).toBeVisible();
  await expect(dialog.locator('[data-count="pending"]')).toContainText('2 pending tasks');
  await expect(dialog.locator('[data-count="running"]')).toContainText('1 running task: each worker is told at its next heartbeat');
  await dialog.getByText('The tasks').click();
  await expect(dialog.getByRole('list', { name: 'The tasks' }).getByRole('listitem')).toHaveText([
    new RegExp(`${pending[2]!.name}|${guarded.name}`),
    new RegExp(`${pending[2]!.name}|${guarded.name}`),
    `${running.name} (running)`,
  ]);
  await dialog.getByRole('button', { name: 'Yes, cancel 3 tasks' }).click();
  await expect(dialog.getByRole('heading', { name: 'Cancel: finished' })).toBeVisible();
  await expect(summary.locator('[data-outcome="canceled"]')).toHaveText('1 pending task canceled: no worker runs them');
  await expect(summary.locator('[data-outcome="requested"]')).toHaveText('1 running task asked to stop: each worker is told at its next heartbeat');
  await expect(summary.locator('[data-outcome="forbidden"]')).toHaveText('1 task you may read but not cancel');
  const refused = dialog.getByRole('table', { name: 'Tasks not canceled' }).locator('tbody tr');
  await expect(refused).toHaveCount(1);
  await expect(refused).toContainText(guarded.name);
  await expect(refused).toContainText('FORBIDDEN');
  await expect(refused).toContainText(/request id [0-9a-f-]{36}/);
  await expectAccessible(page);
  await screenshot(page, info, 'tasks-bulk-cancel', true);
  await dialog.getByRole('button', { name: 'Close' }).click();

  expect((await statusOf(pending[2]!.id, carol)).status).toBe('canceled');
  expect(await statusOf(running.id, carol)).toMatchObject({ status: 'running', cancelRequested: true });
  // the list says so: still running, its cancel requested
  await expect(row(page, running.name)).toContainText('cancel requested');
  await expect(row(page, pending[2]!.name)).not.toContainText('cancel requested');
  expect((await statusOf(guarded.id, alice)).status).toBe('pending');
  expect((await statusOf(done.id, carol)).status).toBe('completed');
  // the running task's worker hears it at its next heartbeat
  const beat = await rest<{ cancelRequested: boolean }>('POST', `/v1/tasks/${running.id}/heartbeat`, worker, { leaseToken: runningLease }, [200]);
  expect(beat.body.cancelRequested).toBe(true);

  // 3. a filter that matches nothing cancelable: nothing is sent
  await page.getByLabel('Status').selectOption('completed');
  await expect(rows(page)).toHaveCount(1);
  await page.getByRole('button', { name: 'Cancel all matching…' }).click();
  await expect(dialog.getByRole('heading', { name: 'Nothing to cancel' })).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Yes, cancel 0 tasks' })).toBeDisabled();
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(dialog).toBeHidden();
});

test('run again in bulk: every failed task matching the filters becomes a new task, after a count preview; one refused is named', async ({ page }) => {
  const tenant = 'console-bulk-rerun';
  const root = await token(tenant, 'root', { roles: ['admin'] });
  const alice = await token(tenant, 'alice');
  const carol = await token(tenant, 'carol');
  const { agentId: agentB, worker } = await agentWithWorker(tenant, carol, root, 'rerun-bot');
  const { agentId: agentA, worker: workerA } = await agentWithWorker(tenant, alice, root, 'rerun-bot-a');
  const failed = async (bearer: string, agentId: string, bot: string, label: string, params: Record<string, unknown>) => {
    const t = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', bearer, { agentId, name: uniq(label), params, maxAttempts: 1, priority: 3 }, [201])).body;
    const lease = await claim(agentId, bot, t.id);
    await rest('POST', `/v1/tasks/${t.id}/fail`, bot, { leaseToken: lease, error: { message: 'disk full' } }, [200]);
    return t;
  };
  const mine = [await failed(carol, agentB, worker, 'thumbs', { size: 64 }), await failed(carol, agentB, worker, 'thumbs', { size: 128 })];
  // carol may read alice's agent, not create tasks on it
  const guarded = await failed(alice, agentA, workerA, 'guarded', {});
  await until(() => rest('POST', '/v1/authz/grants', root, { subject: 'user:carol', action: 'read', resource: `agent:${agentA}` }), (r) => r.status === 201);
  await until(() => rest('GET', `/v1/tasks/${guarded.id}`, carol), (r) => r.status === 200);

  await signIn(page, carol, '/tasks?status=failed');
  await expect(rows(page)).toHaveCount(3);
  // the button is there for an ended status only
  await page.getByRole('button', { name: 'Run all failed again…' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('heading', { name: 'Run again 3 tasks?' })).toBeVisible();
  await expect(dialog.locator('[data-count="failed"]')).toContainText('3 failed tasks: each becomes a new pending task');
  await expect(dialog).toContainText(/→ \S+-rerun-[0-9a-f]{6}/);
  await expectAccessible(page);
  await dialog.getByRole('button', { name: 'Yes, run again 3 tasks' }).click();
  await expect(dialog.getByRole('heading', { name: 'Run again: finished' })).toBeVisible();
  const summary = dialog.getByRole('list', { name: 'Summary' });
  await expect(summary.locator('[data-outcome="created"]')).toHaveText('2 new tasks created');
  await expect(summary.locator('[data-outcome="forbidden"]')).toHaveText('1 task on an agent you may not create tasks on');
  const refused = dialog.getByRole('table', { name: 'Tasks not run again' }).locator('tbody tr');
  await expect(refused).toHaveCount(1);
  await expect(refused).toContainText(guarded.name);
  await expect(refused).toContainText('FORBIDDEN');
  await dialog.getByRole('button', { name: 'Close' }).click();

  const made = (await rest<{ items: Array<{ name: string; status: string; params: unknown; priority: number; maxAttempts: number }> }>('GET', `/v1/tasks?agentId=${agentB}&status=pending`, carol, undefined, [200])).body.items;
  expect(made).toHaveLength(2);
  for (const t of mine) {
    const again = made.find((m) => m.name.startsWith(`${t.name}-rerun-`));
    expect(again).toMatchObject({ status: 'pending', priority: 3, maxAttempts: 1 });
  }
  expect(made.map((m) => m.params).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([{ size: 128 }, { size: 64 }]);
  // the failed ones keep their history, and nothing was made on alice's agent
  await expect(rows(page)).toHaveCount(3);
  expect((await rest<{ items: unknown[] }>('GET', `/v1/tasks?agentId=${agentA}&status=pending`, alice, undefined, [200])).body.items).toEqual([]);
  // no button where nothing has ended
  await page.getByLabel('Status').selectOption('pending');
  await expect(page.getByRole('button', { name: /Run all .* again/ })).toHaveCount(0);
});

test('a ticked task that starts meanwhile is previewed as running, and one that ends is unticked', async ({ page }) => {
  const tenant = 'console-bulk-moving';
  const alice = await token(tenant, 'alice', { roles: ['admin'] });
  const { agentId, worker } = await agentWithWorker(tenant, alice, alice, 'moving-bot');
  const first = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq('starts') }, [201])).body;
  const second = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq('ends') }, [201])).body;
  await signIn(page, alice, `/tasks?agentId=${agentId}`);
  await page.getByRole('checkbox', { name: 'Select every cancelable task on this page' }).check();
  await expect(page.getByTestId('selected-count')).toHaveText('2 selected');

  // a worker takes the first, then the second, and completes the second (the list refreshes every 5 s)
  await claim(agentId, worker, first.id);
  const lease = await claim(agentId, worker, second.id);
  await rest('POST', `/v1/tasks/${second.id}/complete`, worker, { leaseToken: lease }, [200]);
  await expect(row(page, first.name)).toHaveAttribute('data-status', 'running', { timeout: 15_000 });
  await expect(row(page, second.name)).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('selected-count')).toHaveText('1 selected');

  await page.getByRole('button', { name: 'Cancel selected…' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('heading', { name: 'Cancel 1 task?' })).toBeVisible();
  await expect(dialog.locator('[data-count="running"]')).toContainText('1 running task');
  await expect(dialog.locator('[data-count="pending"]')).toHaveCount(0);
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(dialog).toBeHidden();
});
