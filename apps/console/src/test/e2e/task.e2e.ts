import { expect, test, type Page } from '@playwright/test';
import { agentWithWorker, claim, expectAccessible, gateway, rest, screenshot, signIn, token, uniq, until } from './fixtures.js';

const badge = (page: Page) => page.getByRole('heading', { level: 1 }).locator('.badge');
const events = (page: Page) => page.getByRole('list', { name: 'Events' }).locator('li');
const attempts = (page: Page) => page.getByRole('table', { name: 'Attempts' }).locator('tbody tr');

async function heartbeat(id: string, worker: string, leaseToken: string, progress?: unknown) {
  // the task's own registration may lag its creation: retry until the worker may execute it
  return until(
    () => rest<{ cancelRequested: boolean }>('POST', `/v1/tasks/${id}/heartbeat`, worker, { leaseToken, progress }),
    (r) => r.status === 200,
  );
}

test.describe('a task page, live over SSE', () => {
  let alice: string;
  let agentId: string;
  let worker: string;

  test.beforeAll(async () => {
    alice = await token('console-task', 'alice', { roles: ['admin'] });
    ({ agentId, worker } = await agentWithWorker('console-task', alice, alice, 'task-bot'));
  });

  test('goes pending → running → completed while a worker runs it, without a reload', async ({ page }, info) => {
    const task = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq('nightly-report'), params: { day: '2026-01-01' } }, [201])).body;
    await signIn(page, alice, `/tasks/${task.id}`);
    await expect(badge(page)).toHaveText('pending');
    await expect(page.getByTestId('stream-state')).toHaveText('live');
    await expect(events(page)).toHaveCount(1);
    // who may act on it is a link away
    await expect(page.getByRole('link', { name: 'to this task' })).toHaveAttribute('href', new RegExp(`/console/authz\\?access=task(%3A|:)${task.id}`));
    // its agent by name, a link to the agent's tasks
    const agentName = (await rest<{ name: string }>('GET', `/v1/agents/${agentId}`, alice, undefined, [200])).body.name;
    await expect(page.getByTestId('agent-name')).toHaveText(agentName);
    await expect(page.getByTestId('agent-name')).toHaveAttribute('href', `/console/tasks?agentId=${agentId}`);
    await expectAccessible(page);

    const lease = await claim(agentId, worker, task.id);
    await expect(badge(page)).toHaveText('running');
    await expect(page.locator('[data-event="claimed"]')).toBeVisible();
    await heartbeat(task.id, worker, lease, { pct: 60 });
    await expect(page.locator('[data-event="progress"]')).toBeVisible();
    await expect(page.locator('dl.fields')).toContainText('{"pct":60}');

    await rest('POST', `/v1/tasks/${task.id}/complete`, worker, { leaseToken: lease, result: { rows: 42 } }, [200]);
    await expect(badge(page)).toHaveText('completed');
    await expect(page.locator('[data-event="completed"]')).toBeVisible();
    await expect(page.getByTestId('stream-state')).toHaveText('ended');
    await expect(page.getByRole('button', { name: 'Cancel task' })).toHaveCount(0);
    await expect(attempts(page)).toHaveCount(1);
    await expect(attempts(page).first()).toHaveAttribute('data-outcome', 'completed');
    await expect(attempts(page).first()).toContainText('e2e-worker');
    await screenshot(page, info, 'task-completed');

    // a link to one event, opened afresh: it is marked once the stream has brought it; another event's link moves the mark
    await page.goto(`${gateway()}/console/agents`);
    await page.goto(`${gateway()}/console/tasks/${task.id}#event-2`);
    await expect(page.locator('#event-2')).toHaveAttribute('aria-current', 'true');
    await expect(page.locator('#event-2')).toHaveAttribute('data-event', 'claimed');
    await page.getByRole('link', { name: 'Link to event 4' }).click();
    await expect(page).toHaveURL(/#event-4$/);
    await expect(page.locator('#event-4')).toHaveAttribute('aria-current', 'true');
    await expect(page.locator('#event-2')).not.toHaveAttribute('aria-current', 'true');
    await expectAccessible(page);
  });

  test('shows each attempt: the first failed and retried with its error, the second completed', async ({ page }, info) => {
    const task = (await rest<{ id: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq('flaky-sync'), maxAttempts: 3, retry: { initialIntervalMs: 1 } }, [201])).body;
    await signIn(page, alice, `/tasks/${task.id}`);
    await expect(page.getByText('no attempt has begun')).toBeVisible();

    const first = await claim(agentId, worker, task.id);
    await expect(attempts(page)).toHaveCount(1);
    await expect(attempts(page).first()).toHaveAttribute('data-outcome', 'running');
    // the task's own registration may lag its creation: retry until the worker may execute it
    await until(() => rest('POST', `/v1/tasks/${task.id}/fail`, worker, { leaseToken: first, error: { message: 'upstream answered 502' } }), (r) => r.status === 200);
    await expect(attempts(page).first()).toHaveAttribute('data-outcome', 'retried');
    await expect(attempts(page).first()).toContainText('upstream answered 502');

    const second = await claim(agentId, worker, task.id);
    await rest('POST', `/v1/tasks/${task.id}/complete`, worker, { leaseToken: second, result: {} }, [200]);
    await expect(badge(page)).toHaveText('completed');
    await expect(attempts(page)).toHaveCount(2);
    await expect(attempts(page).nth(1)).toHaveAttribute('data-outcome', 'completed');
    await expect(attempts(page).nth(1)).toContainText('2 of 3');
    await expectAccessible(page);
    await screenshot(page, info, 'task-attempts');
  });

  test('cancels a running task through the confirmation; the worker hears it and the task ends canceled', async ({ page }, info) => {
    const task = (await rest<{ id: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq('long-import') }, [201])).body;
    const lease = await claim(agentId, worker, task.id);
    await heartbeat(task.id, worker, lease);
    await signIn(page, alice, `/tasks/${task.id}`);
    await expect(badge(page)).toHaveText('running');

    await page.getByRole('button', { name: 'Cancel task' }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText('The task is running');
    await expectAccessible(page);
    await screenshot(page, info, 'cancel-dialog');
    const request = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/v1/tasks/${task.id}/cancel`));
    await dialog.getByRole('button', { name: 'Yes, cancel the task' }).click();
    await request;
    await expect(page.getByRole('button', { name: 'Cancel requested' })).toBeDisabled();
    await expect(page.locator('[data-event="cancel_requested"]')).toBeVisible();
    // the history says who asked
    await expect(page.getByTestId('cancel-requested')).toHaveText('yes, by user:alice');

    const beat = await heartbeat(task.id, worker, lease);
    expect(beat.body.cancelRequested).toBe(true);
    await rest('POST', `/v1/tasks/${task.id}/fail`, worker, { leaseToken: lease, error: { message: 'stopped on request' } }, [200]);
    await expect(badge(page)).toHaveText('canceled');
    await expect(page.locator('[data-event="canceled"]')).toBeVisible();
  });
});

test('a task deleted while its page is open: the page says it is gone at once, not a stale status', async ({ page }) => {
  const alice = await token('console-task-gone', 'alice', { roles: ['admin'] });
  const agent = (await rest<{ id: string }>('POST', '/v1/agents', alice, { name: uniq('agent') }, [201])).body;
  const task = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId: agent.id, name: uniq('short-lived') }, [201])).body;
  await signIn(page, alice, `/tasks/${task.id}`);
  await expect(page.getByTestId('stream-state')).toHaveText('live');
  await expect(badge(page)).toHaveText('pending');
  await rest('DELETE', `/v1/tasks/${task.id}`, alice, undefined, [204]);
  // the stream's long poll hears the delete at its commit; the page then reads the task again and shows the API's answer
  await expect(page.getByRole('alert')).toContainText('NOT_FOUND', { timeout: 3_000 });
  await expect(page.getByRole('heading', { level: 1 })).toHaveCount(0);
});

test('deletes a task through a confirmation that says what it does; a reader who may not delete is refused in the dialog', async ({ page }) => {
  const alice = await token('console-task-delete', 'alice', { roles: ['admin'] });
  const carol = await token('console-task-delete', 'carol');
  const agent = (await rest<{ id: string }>('POST', '/v1/agents', alice, { name: uniq('agent') }, [201])).body;
  const task = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId: agent.id, name: uniq('doomed') }, [201])).body;
  // carol may read the agent's tasks, not delete them
  await until(() => rest('POST', '/v1/authz/grants', alice, { subject: 'user:carol', action: 'read', resource: `agent:${agent.id}` }), (r) => r.status === 201);
  await until(() => rest('GET', `/v1/tasks/${task.id}`, carol), (r) => r.status === 200);
  await signIn(page, carol, `/tasks/${task.id}`);
  await page.getByRole('button', { name: 'Delete task…' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Yes, delete the task' }).click();
  await expect(page.getByRole('dialog').getByRole('heading', { name: 'Forbidden' })).toBeVisible();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  expect((await rest('GET', `/v1/tasks/${task.id}`, alice)).status).toBe(200);

  await signIn(page, alice, `/tasks/${task.id}`);
  await expect(badge(page)).toHaveText('pending');
  await page.getByRole('button', { name: 'Delete task…' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('heading', { name: `Delete task ${task.name}?` })).toBeVisible();
  await expect(dialog).toContainText('The task is pending: no worker will run it.');
  await expectAccessible(page);
  await dialog.getByRole('button', { name: 'Yes, delete the task' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Task ${task.name} deleted`);
  await expect(page.getByRole('status').filter({ hasText: 'history are gone' })).toBeVisible();
  await expectAccessible(page);
  expect((await rest('GET', `/v1/tasks/${task.id}`, alice)).status).toBe(404);
  await page.getByRole('link', { name: "The agent's other tasks" }).click();
  await expect(page).toHaveURL(new RegExp(`/console/tasks\\?agentId=${agent.id}`));
  await expect(page.getByRole('link', { name: task.name })).toHaveCount(0);
});

test('an ended task runs again as a new task with what defines its work copied, after the dialog shows it', async ({ page }) => {
  const alice = await token('console-rerun', 'alice', { roles: ['admin'] });
  const { agentId, worker } = await agentWithWorker('console-rerun', alice, alice, 'rerun-bot');
  const spec = { params: { bucket: 'imgs', sizes: [64, 128] }, priority: 7, maxAttempts: 1, heartbeatTimeoutSeconds: 45, timeoutSeconds: 900 };
  const task = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq('resize'), ...spec }, [201])).body;
  const lease = await claim(agentId, worker, task.id);
  await rest('POST', `/v1/tasks/${task.id}/fail`, worker, { leaseToken: lease, error: { message: 'disk full' } }, [200]);

  await signIn(page, alice, `/tasks/${task.id}`);
  await expect(badge(page)).toHaveText('failed');
  await page.getByRole('button', { name: 'Run again…' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('heading', { name: `Run ${task.name} again?` })).toBeVisible();
  const copied = dialog.getByRole('definition');
  // jsonb keeps its own key order: compare the value
  expect(JSON.parse((await copied.nth(1).textContent()) ?? '')).toEqual(spec.params);
  await expect(dialog).toContainText('up to 1');
  await expect(dialog).toContainText('heartbeat 45 s, attempt 900 s');
  const nameField = dialog.getByLabel('Name of the new task');
  await expect(nameField).toHaveValue(new RegExp(`^${task.name}-rerun-[0-9a-f]{6}$`));
  await expectAccessible(page);

  // a name that is taken: the API's CONFLICT in the dialog, nothing created, the dialog stays
  const creates: string[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/v1/tasks')) creates.push(r.headers()['idempotency-key'] ?? '');
  });
  await nameField.fill(task.name);
  await dialog.getByRole('button', { name: 'Create the new task' }).click();
  await expect(dialog.getByRole('alert')).toContainText('CONFLICT');
  const rerunName = uniq('resize-again');
  await nameField.fill(rerunName);
  await dialog.getByRole('button', { name: 'Create the new task' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(rerunName);
  await expect(badge(page)).toHaveText('pending');
  // one key for the dialog: a refused create stored nothing, and a lost answer retried under another name cannot make two
  expect(creates).toHaveLength(2);
  expect(creates[0]).toMatch(/^console-rerun:[0-9a-f-]{36}$/);
  expect(creates[1]).toBe(creates[0]);
  const rerunId = new URL(page.url()).pathname.split('/').pop() ?? '';
  expect(rerunId).not.toBe(task.id);
  const again = (await rest<Record<string, unknown>>('GET', `/v1/tasks/${rerunId}`, alice, undefined, [200])).body;
  expect(again).toMatchObject({ agentId, name: rerunName, status: 'pending', attempt: 0, ...spec, error: null, creatorUserId: 'alice' });
  // the failed one keeps its history
  expect((await rest<{ status: string }>('GET', `/v1/tasks/${task.id}`, alice, undefined, [200])).body.status).toBe('failed');
});

test('an unknown task shows the API error; a reader who may not cancel sees the forbidden state in the dialog', async ({ page }) => {
  const admin = await token('console-task-authz', 'root', { roles: ['admin'] });
  const alice = await token('console-task-authz', 'alice');
  const carol = await token('console-task-authz', 'carol');
  await signIn(page, carol, '/tasks/00000000-0000-4000-8000-000000000000');
  await expect(page.getByRole('alert')).toContainText('NOT_FOUND');
  // the id the gateway answered under (its x-request-id), which its log line and the service's carry
  await expect(page.getByRole('alert')).toContainText(/Request id [0-9a-f-]{36}/);

  const agent = (await rest<{ id: string }>('POST', '/v1/agents', alice, { name: uniq('agent') }, [201])).body;
  const task = (await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId: agent.id, name: uniq('guarded') }, [201])).body;
  await until(
    () => rest('POST', '/v1/authz/grants', admin, { subject: 'user:carol', action: 'read', resource: `agent:${agent.id}` }),
    (r) => r.status === 201,
  );
  await until(() => rest('GET', `/v1/tasks/${task.id}`, carol), (r) => r.status === 200);
  await page.goto(`${process.env.CONSOLE_E2E_URL}/console/tasks/${task.id}`);
  await expect(page.getByRole('heading', { level: 1 })).toContainText(task.name);
  await page.getByRole('button', { name: 'Cancel task' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Yes, cancel the task' }).click();
  await expect(page.getByRole('dialog').getByRole('heading', { name: 'Forbidden' })).toBeVisible();
  await expect(page.getByRole('dialog')).toContainText('FORBIDDEN');
  await expectAccessible(page);
});
