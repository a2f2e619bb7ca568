import { expect, test } from '@playwright/test';
import { expectAccessible, rest, screenshot, signIn, token, uniq } from './fixtures.js';

const digest = (label: string) => `sha256:${Buffer.from(label.padEnd(32, '.')).toString('hex').slice(0, 64).padEnd(64, '0')}`;

test('an output deep link shows its chain: run → release (the digest) → hook', async ({ page }, info) => {
  const admin = await token('console-provenance', 'alice', { roles: ['admin'] });
  const name = uniq('score');
  await rest('POST', '/v1/conventions', admin, {
    slug: uniq('leads'),
    schema: { fields: ['lead', 'score'] },
    hooks: [{ name, feature: `${name}.v1`, release: { image: 'registry.example.test/score:1.0', digest: digest('p1'), config: { threshold: 0.5 }, sourceRef: 'git:bbb222' } }],
  }, [201]);
  await rest('POST', `/v1/hooks/${name}/releases`, admin, { image: 'registry.example.test/score:1.1', digest: digest('p2'), config: { threshold: 0.7 }, sourceRef: 'git:ccc333' }, [201]);
  const run = await rest<{ runId: string }>('POST', `/v1/hooks/${name}/runs`, admin, undefined, [201]);
  const outputs = await rest<{ ids: string[] }>('POST', `/v1/runs/${run.body.runId}/outputs`, admin, { rows: [{ lead: 'acme-corp', score: 0.91 }] }, [201]);
  await rest('POST', `/v1/runs/${run.body.runId}/finish`, admin, { status: 'succeeded' }, [200]);
  // roll back: the page must show the release the output came from, not the live one
  await rest('PUT', `/v1/hooks/${name}/live`, admin, { version: 1 }, [200]);

  await signIn(page, admin, `/provenance?output=${outputs.body.ids[0]}`);
  const chain = page.getByRole('list', { name: 'Provenance chain' });
  const runStep = chain.locator('li[data-step="run"]');
  await expect(runStep).toContainText(run.body.runId);
  await expect(runStep).toContainText('succeeded');
  const release = chain.locator('li[data-step="release"]');
  await expect(release.getByRole('heading')).toHaveText('Release v2');
  await expect(release.getByTestId('digest')).toHaveText(digest('p2'));
  await expect(release).toContainText('registry.example.test/score:1.1');
  await expect(release).toContainText('git:ccc333');
  const hook = chain.locator('li[data-step="hook"]');
  await expect(hook).toContainText('v1 (this output came from v2)');
  await expect(page.getByLabel('Output id')).toHaveValue(outputs.body.ids[0]!);
  await expectAccessible(page);
  await screenshot(page, info, 'provenance', true);

  await hook.getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('live v1');

  // an unknown output: the API's code and message
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Provenance' }).click();
  await page.getByLabel('Output id').fill('00000000-0000-4000-8000-000000000000');
  await page.getByRole('button', { name: 'Trace' }).click();
  await expect(page).toHaveURL(/output=00000000-0000-4000-8000-000000000000/);
  await expect(page.getByRole('alert')).toContainText('NOT_FOUND');
  await expectAccessible(page);
});
