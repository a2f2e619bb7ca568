import { expect, test } from '@playwright/test';
import { agentWithWorker, claim, expectAccessible, gateway, rest, screenshot, signIn, token, uniq } from './fixtures.js';

test('filter tasks by status; the filter lives in the URL and survives a reload; agents show the queue', async ({ page }, info) => {
  const alice = await token('console-tasks', 'alice', { roles: ['admin'] });
  const { agentId, worker } = await agentWithWorker('console-tasks', alice, alice, 'tasks-bot');
  const running = await rest<{ id: string; name: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq('resize-images') }, [201]);
  await claim(agentId, worker, running.body.id);
  const pending = [];
  for (const label of ['index-docs', 'send-digest']) pending.push((await rest<{ name: string }>('POST', '/v1/tasks', alice, { agentId, name: uniq(label) }, [201])).body);

  const agentReads: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === `/v1/agents/${agentId}`) agentReads.push(r.url());
  });
  await signIn(page, alice);
  const rows = page.getByRole('table', { name: 'Tasks' }).locator('tbody tr');
  await expect(rows).toHaveCount(3);
  // each row names its agent, read once for all three
  const agentName = (await rest<{ name: string }>('GET', `/v1/agents/${agentId}`, alice, undefined, [200])).body.name;
  await expect(rows.getByTestId('agent-name')).toHaveText([agentName, agentName, agentName]);
  expect(agentReads).toHaveLength(1);
  await expectAccessible(page);
  await screenshot(page, info, 'tasks', true);

  await page.getByLabel('Status').selectOption('running');
  await expect(page).toHaveURL(/status=running/);
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(running.body.name);
  await expect(rows.first()).toHaveAttribute('data-status', 'running');

  await page.reload();
  await expect(page.getByLabel('Status')).toHaveValue('running');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(running.body.name);

  await page.getByLabel('Status').selectOption('pending');
  await expect(rows).toHaveCount(2);
  await screenshot(page, info, 'tasks-pending');
  // the back button returns to the previous filter
  await page.goBack();
  await expect(page.getByLabel('Status')).toHaveValue('running');
  await expect(rows).toHaveCount(1);

  // keyset pages: the cursor is in the URL too, so a page survives a reload
  await page.goto(`${gateway()}/console/tasks?status=pending&limit=1`);
  await expect(rows).toHaveCount(1);
  const first = await rows.first().getByRole('link').first().textContent();
  await page.getByRole('link', { name: 'Next page' }).click();
  await expect(page).toHaveURL(/cursor=/);
  await expect(rows.first()).not.toContainText(first ?? '');
  const second = await rows.first().getByRole('link').first().textContent();
  expect(pending.map((t) => t.name).sort()).toEqual([first, second].sort());
  await page.reload();
  await expect(rows.first()).toContainText(second ?? '');
  await expect(page.getByRole('link', { name: 'Next page' })).toHaveCount(0);

  // the creator filter: alice made all three; a service account none (the empty state, not a blank page)
  await page.getByLabel(/Creator/).fill('service_account:nobody');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page.getByRole('heading', { name: 'No tasks match' })).toBeVisible();
  await expect(page).toHaveURL(/creator=service_account/);

  await page.getByRole('link', { name: 'Agents' }).click();
  const agentRow = page.getByRole('table', { name: 'Agents and their queues' }).locator('tbody tr');
  await expect(agentRow).toHaveCount(1);
  await expect(agentRow.locator('[data-stat="pending"]')).toHaveText('2');
  await expect(agentRow.locator('[data-stat="running"]')).toHaveText('1');
  await expect(agentRow).toContainText(/\d+ s ago/);
  await expectAccessible(page);
  await screenshot(page, info, 'agents');
  // the agent's access is one click away: its worker's execute grant, given by alice
  await agentRow.getByRole('link', { name: /^Who has access to / }).click();
  await expect(page).toHaveURL(new RegExp(`access=agent(%3A|:)${agentId}`));
  await expect(page.getByRole('table', { name: 'Grants' }).locator('tr[data-grant="execute@service_account:tasks-bot"]')).toContainText('user:alice');
  await page.goBack();
  // a count leads to those tasks
  await agentRow.locator('[data-stat="pending"]').getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`agentId=${agentId}`));
  await expect(page).toHaveURL(/status=pending/);
  await expect(rows).toHaveCount(2);
  // the filter names the agent, not only its id
  await expect(page.getByTestId('agent-filter')).toContainText(`The tasks of agent ${agentName} ${agentId}`);
  // the filter takes the agent's name as well as its id; an unknown name is said so, and the list stays as it was
  await page.getByRole('link', { name: 'Clear' }).click();
  await expect(page.getByTestId('agent-filter')).toHaveCount(0);
  await page.getByLabel('Agent (name or id)').fill(agentName);
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(new RegExp(`agentId=${agentId}`));
  await expect(page.getByTestId('agent-filter')).toContainText(`The tasks of agent ${agentName} ${agentId}`);
  await expect(rows).toHaveCount(3);
  await page.getByLabel('Agent (name or id)').fill('no-such-agent');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page.getByTestId('agent-filter-error')).toHaveText('No agent named "no-such-agent" that you may read.');
  await expect(page).toHaveURL(new RegExp(`agentId=${agentId}`));
});

test('the agents page reads every page of agents, not only the first', async ({ page }) => {
  const admin = await token(uniq('console-agents'), 'root', { roles: ['admin'] });
  // more than the 100 the page once read in one request and stopped at, without a word
  for (let i = 0; i < 101; i++) await rest('POST', '/v1/agents', admin, { name: `fleet-${String(i).padStart(3, '0')}` }, [201]);
  await signIn(page, admin, '/agents');
  const agentRows = page.getByRole('table', { name: 'Agents and their queues' }).locator('tbody tr');
  await expect(agentRows).toHaveCount(50);
  await page.getByRole('button', { name: 'More agents' }).click();
  await expect(agentRows).toHaveCount(100);
  await page.getByRole('button', { name: 'More agents' }).click();
  await expect(agentRows).toHaveCount(101);
  await expect(page.getByRole('button', { name: 'More agents' })).toHaveCount(0);
});
