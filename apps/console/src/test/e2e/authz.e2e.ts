import { expect, test } from '@playwright/test';
import { expectAccessible, rest, screenshot, signIn, token, uniq, until } from './fixtures.js';

test('the authz page shows coverage and explains an inherited grant and a denial', async ({ page }, info) => {
  const org = uniq('console-authz');
  const admin = await token(org, 'alice', { roles: ['admin'] });
  // enforce, so the decision is the fine-grained one (legacy allows any member and has no chain to show)
  await rest('PUT', `/v1/authz/tenants/${org}/mode`, admin, { mode: 'enforce' }, [200]);
  const agent = await rest<{ id: string }>('POST', '/v1/agents', admin, { name: uniq('agent') }, [201]);
  const task = await rest<{ id: string }>('POST', '/v1/tasks', admin, { agentId: agent.body.id, name: uniq('task'), params: {} }, [201]);
  await until(
    () => rest('POST', '/v1/authz/grants', admin, { subject: 'user:bob', action: 'read', resource: `agent:${agent.body.id}` }),
    (r) => r.status === 201,
  );
  // the task's registration (outbox → authz-proxy) has landed once bob's inherited read is explained as allowed
  await until(
    () => rest<{ allowed: boolean }>('POST', '/v1/authz/explain', admin, { subject: 'user:bob', action: 'read', resource: `task:${task.body.id}` }),
    (r) => r.status === 200 && r.body.allowed,
  );

  await signIn(page, admin, '/authz');
  await expect(page.getByRole('heading', { name: 'Authz', level: 1 })).toBeVisible();
  await expect(page.getByTestId('mode')).toHaveText('enforce');
  const coverage = page.getByRole('table', { name: 'Registration coverage' });
  await expect(coverage.locator('tr[data-type="task"]')).toBeVisible();
  await expect(coverage.getByRole('rowheader', { name: 'task' })).toBeVisible();

  const form = page.getByRole('form', { name: 'Explain access' });
  await form.getByLabel('Subject (optional)').fill('user:bob');
  await form.getByLabel('Action').selectOption('read');
  await form.getByLabel('Resource').fill(`task:${task.body.id}`);
  const explained = page.waitForRequest((r) => r.url().endsWith('/v1/authz/explain') && r.method() === 'POST');
  await form.getByRole('button', { name: 'Explain' }).click();
  expect((await explained).postDataJSON()).toEqual({ subject: 'user:bob', action: 'read', resource: `task:${task.body.id}` });
  // the form lives in the URL
  expect(new URL(page.url()).searchParams.get('resource')).toBe(`task:${task.body.id}`);
  expect(new URL(page.url()).searchParams.get('subject')).toBe('user:bob');

  await expect(page.getByTestId('decision')).toHaveText('allowed');
  await expect(page.getByTestId('reason')).toHaveText('inherited_grant');
  const granting = page.getByRole('list', { name: 'Granting path' }).getByRole('listitem');
  await expect(granting).toHaveText([
    `task:${task.body.id}#tenant@tenant:${org}`,
    `task:${task.body.id}#parent@agent:${agent.body.id}`,
    `agent:${agent.body.id}#read@user:bob`,
  ]);
  await expectAccessible(page);
  await screenshot(page, info, 'authz-allowed');

  // a subject without any relation: denied, with what was missing
  await form.getByLabel('Subject (optional)').fill('user:eve');
  await form.getByRole('button', { name: 'Explain' }).click();
  await expect(page.getByTestId('decision')).toHaveText('denied');
  await expect(page.getByTestId('reason')).toHaveText('no_relation');
  const missing = page.getByRole('list', { name: 'What was missing' });
  await expect(missing.locator('li[data-missing="true"]', { hasText: `task:${task.body.id}#read@user:eve` })).toBeVisible();
  await expect(missing.locator('li[data-missing="true"]', { hasText: `agent:${agent.body.id}#read@user:eve` })).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, info, 'authz-denied', true);

  // a deep link reproduces the explanation
  await page.goto(page.url());
  await expect(page.getByTestId('decision')).toHaveText('denied');
  await expect(page.getByLabel('Subject (optional)')).toHaveValue('user:eve');
});

test('a non-admin sees the forbidden state for the tenant status', async ({ page }) => {
  const org = uniq('console-authz-user');
  const user = await token(org, 'carol');
  await signIn(page, user, '/authz');
  await expect(page.getByRole('heading', { name: 'Forbidden' })).toBeVisible();
  await expect(page.getByRole('form', { name: 'Explain access' })).toBeVisible();
});
