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
  // who set it: the admin's PUT above
  await expect(page.getByTestId('mode-set')).toContainText('Set by user:alice');
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

test('who has access: the grants of a resource with who gave them, grant and revoke from the page, and the history', async ({ page }, info) => {
  const org = uniq('console-access');
  const admin = await token(org, 'alice', { roles: ['admin'] });
  const agent = (await rest<{ id: string }>('POST', '/v1/agents', admin, { name: uniq('agent') }, [201])).body.id;
  const resource = `agent:${agent}`;
  await until(() => rest('POST', '/v1/authz/grants', admin, { subject: 'user:bob', action: 'read', resource }), (r) => r.status === 201);

  await signIn(page, admin, `/authz?access=${encodeURIComponent(resource)}`);
  await expect(page.getByRole('form', { name: 'Who has access' }).getByLabel('Resource')).toHaveValue(resource);
  const grants = page.getByRole('table', { name: 'Grants' });
  await expect(grants.locator('tr[data-grant="read@user:bob"]')).toContainText('user:alice');
  const history = page.getByRole('table', { name: 'Grant history' }).locator('tbody tr');
  await expect(history).toHaveCount(1);

  // grant from the page: the API's own POST
  const form = page.getByRole('form', { name: 'Grant access' });
  await form.getByLabel('Subject').fill('service_account:ci');
  await form.getByLabel('Action').selectOption('execute');
  const granted = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/v1/authz/grants'));
  await form.getByRole('button', { name: 'Grant' }).click();
  expect((await granted).postDataJSON()).toEqual({ subject: 'service_account:ci', action: 'execute', resource });
  await expect(grants.locator('tr[data-grant="execute@service_account:ci"]')).toContainText('user:alice');
  await expect(history).toHaveCount(2);
  await expect(page.getByTestId('grant-held')).toHaveCount(0);
  // the same grant again: the API's 200 (held already), said on the page; no new grant, no history line
  await form.getByLabel('Subject').fill('service_account:ci');
  await form.getByLabel('Action').selectOption('execute');
  await form.getByRole('button', { name: 'Grant' }).click();
  await expect(page.getByTestId('grant-held')).toHaveText(`service_account:ci already held execute on ${resource}: nothing changed.`);
  await expect(grants.locator('tbody tr')).toHaveCount(2);
  await expect(history).toHaveCount(2);
  // a malformed subject: the API's VALIDATION, nothing granted
  await form.getByLabel('Subject').fill('bob');
  await form.getByRole('button', { name: 'Grant' }).click();
  await expect(page.getByRole('alert')).toContainText('VALIDATION');
  await expect(grants.locator('tbody tr')).toHaveCount(2);

  // revoke through the confirmation: the API's own DELETE
  await grants.getByRole('button', { name: 'Revoke read from user:bob' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('heading', { name: 'Revoke read from user:bob?' })).toBeVisible();
  await dialog.getByRole('button', { name: 'Yes, revoke' }).click();
  await expect(dialog).toBeHidden();
  await expect(grants.locator('tr[data-grant="read@user:bob"]')).toHaveCount(0);
  await expect(history).toHaveCount(3);
  await expect(history.first()).toHaveAttribute('data-change', 'revoked');
  await expect(history.first()).toContainText('user:bob');
  await expect(history.first()).toContainText('user:alice');
  expect((await rest<{ items: unknown[] }>('GET', `/v1/authz/grants?resource=${encodeURIComponent(resource)}`, admin, undefined, [200])).body.items).toHaveLength(1);
  await expectAccessible(page);
  await screenshot(page, info, 'authz-access', true);

  // one who may read the agent but not administer it sees the forbidden state, not the grants
  const reader = await token(org, 'dan');
  await rest('POST', '/v1/authz/grants', admin, { subject: 'user:dan', action: 'read', resource }, [201]);
  // the link with her token opened in the same tab, on the same page: only its fragment changes, and it signs her in
  await signIn(page, reader, `/authz?access=${encodeURIComponent(resource)}`);
  await expect.poll(() => page.evaluate(() => sessionStorage.getItem('agentplane.token'))).toBe(reader);
  await expect(page.getByRole('heading', { name: 'Forbidden' }).first()).toBeVisible();
  await expect(page.getByRole('table', { name: 'Grants' })).toHaveCount(0);
});

test('a non-admin sees the forbidden state for the tenant status', async ({ page }) => {
  const org = uniq('console-authz-user');
  const user = await token(org, 'carol');
  await signIn(page, user, '/authz');
  await expect(page.getByRole('heading', { name: 'Forbidden' })).toBeVisible();
  await expect(page.getByRole('form', { name: 'Explain access' })).toBeVisible();
});
