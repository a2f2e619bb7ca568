import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, type TestInfo } from '@playwright/test';
import { SignJWT } from 'jose';

/** Set by e2e/global-setup.ts, which boots the real stack. */
export const gateway = (): string => {
  const url = process.env.CONSOLE_E2E_URL;
  if (!url) throw new Error('CONSOLE_E2E_URL is not set: run through e2e/playwright.config.ts');
  return url;
};

/** A development token signed with the stack's primary secret (what `npm run token` prints). */
export function token(tenant: string, sub: string, opts: { roles?: string[]; serviceAccount?: boolean } = {}): Promise<string> {
  const claims: Record<string, unknown> = { tid: tenant, roles: opts.roles ?? [] };
  if (opts.serviceAccount) claims.sat = true;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('agentplane')
    .setAudience('agentplane')
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(process.env.CONSOLE_E2E_SECRET ?? ''));
}

/** A REST call as a user or worker would make it; `expectStatus` guards the seed. */
export async function rest<T = any>(method: string, path: string, bearer: string, body?: unknown, expectStatus?: number[]): Promise<{ status: number; body: T }> {
  const res = await fetch(`${gateway()}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = (text ? JSON.parse(text) : undefined) as T;
  if (expectStatus && !expectStatus.includes(res.status)) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return { status: res.status, body: parsed };
}

export async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await get();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    v = await get();
  }
  if (!ok(v)) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(v)}`);
  return v;
}

/** Signs in the way `npm start`'s link does: the token in the URL fragment. */
export async function signIn(page: Page, bearer: string, path = '/tasks'): Promise<void> {
  await page.goto(`${gateway()}/console${path}#token=${bearer}`);
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  expect(new URL(page.url()).hash).toBe('');
}

/** axe: no serious or critical violation on the page as it is now. */
export async function expectAccessible(page: Page): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

/** Every spec leaves a screenshot in test-results/; with UPDATE_DOCS_SCREENSHOTS=1 the README's too (docs/img/). */
export async function screenshot(page: Page, info: TestInfo, name: string, docs = false): Promise<void> {
  await page.screenshot({ path: info.outputPath(`${name}.png`), fullPage: true });
  if (docs && process.env.UPDATE_DOCS_SCREENSHOTS === '1') {
    mkdirSync(join(repoRoot, 'docs', 'img'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, 'docs', 'img', `console-${name}.png`), fullPage: true });
  }
}

export const uniq = (label: string): string => `${label}-${Math.random().toString(16).slice(2, 8)}`;

/** An agent of `tenant`, owned by `owner`, whose worker service account may execute its tasks. */
export async function agentWithWorker(tenant: string, owner: string, admin: string, workerSub: string): Promise<{ agentId: string; worker: string }> {
  const agent = await rest<{ id: string }>('POST', '/v1/agents', owner, { name: uniq('agent') }, [201]);
  await until(
    () => rest('POST', '/v1/authz/grants', admin, { subject: `service_account:${workerSub}`, action: 'execute', resource: `agent:${agent.body.id}` }),
    (r) => r.status === 201,
  );
  return { agentId: agent.body.id, worker: await token(tenant, workerSub, { serviceAccount: true }) };
}

/** A worker claims one task of the agent through the gateway (REST), once the task's registration landed. */
export async function claim(agentId: string, worker: string, taskId: string): Promise<string> {
  const claimed = await until(
    () => rest<{ items: Array<{ id: string; leaseToken: string }> }>('POST', `/v1/agents/${agentId}/claims`, worker, { workerId: 'e2e-worker' }),
    (r) => r.status === 200 && r.body.items.some((t) => t.id === taskId),
  );
  return claimed.body.items.find((t) => t.id === taskId)!.leaseToken;
}
