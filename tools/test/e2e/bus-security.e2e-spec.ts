import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nkeys } from '@nats-io/nats-core';
import { connect, headers, nkeyAuthenticator, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { signDevToken } from '@agentplane/auth';
import { checkEventsStream, connectNats, eventsStreamConfig, onPermissionViolation } from '@agentplane/messaging';
import { REPO_ROOT } from '../../src/stack.js';
import { bootStack, call, callerOf, natsAs, waitFor, E2E_SECRET, type E2E } from './harness.js';

const token = (tenant: string, sub: string, extra: object = {}) => signDevToken({ secret: E2E_SECRET, issuer: 'agentplane', audience: 'agentplane', tenant, sub, ...extra });

/** Subscribes and reports whether the server refused the subscription, and what it delivered meanwhile. */
function sniff(nc: NatsConnection, subject: string): { sub: Subscription; got: string[]; refused: () => boolean } {
  const got: string[] = [];
  let refused = false;
  const sub = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) refused = true;
      else got.push(msg.subject);
    },
  });
  return { sub, got, refused: () => refused };
}

describe('the bus is authenticated and authorized (DESIGN §2.1), on the stack\'s own NATS with the production config', () => {
  let e2e: E2E;

  beforeAll(async () => {
    e2e = await bootStack('e2e_bus', {}, { exactConfig: true, callers: ['intruder'] });
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('refuses an anonymous connection, and one with a seed the server does not know', async () => {
    await expect(connect({ servers: e2e.nats.url })).rejects.toThrow(/Authorization Violation/i);
    const stranger = nkeys.createUser().getSeed();
    await expect(connect({ servers: e2e.nats.url, authenticator: nkeyAuthenticator(stranger) })).rejects.toThrow(/Authorization Violation/i);
  });

  it('lets a caller read nothing but its own replies while others work, and counts the violations it causes', async () => {
    const seen: string[] = [];
    const off = onPermissionViolation((v) => seen.push(`${v.operation}:${v.subject}`));
    const nc = await connectNats({ servers: e2e.nats.url, prefix: '', name: 'intruder', auth: { nkeySeedFile: (await e2e.nats.identity('intruder')).seedFile, inboxPrefix: '_INBOX_intruder' } });
    try {
      const taps = ['tasks.v1.>', '*.v1.>', 'events.>', '_INBOX.>', '_INBOX_test-caller.>', '_INBOX_gateway.>', '>'].map((s) => sniff(nc, s));
      await nc.flush();
      // other people's work: a user through the gateway, a backend over NATS with its own identity and token
      const alice = await token('acme', 'alice', { roles: ['admin'] });
      expect((await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'watched' } })).status).toBe(201);
      const backend = await callerOf(e2e, 'test-caller');
      try {
        const reply = await backend.request('tasks.v1.create_agent', { name: 'watched-2' }, { token: alice });
        expect(reply.body.ok).toBe(true);
      } finally {
        await backend.close();
      }
      await waitFor(() => taps.every((t) => t.refused()), Boolean, 5_000);
      for (const t of taps) expect([t.sub.getSubject(), t.refused(), t.got]).toEqual([t.sub.getSubject(), true, []]);
      await waitFor(() => seen.length, (n) => n >= taps.length, 5_000);
      expect(seen).toEqual(expect.arrayContaining(['subscription:tasks.v1.>', 'subscription:events.>', 'subscription:>']));
    } finally {
      off();
      await nc.close();
    }
  });

  it('lets no service create or update a stream: EVENTS cannot be widened to capture another\'s requests', async () => {
    // the stack's harness created EVENTS as ops before the services, which only check it
    const { name, ...config } = eventsStreamConfig('');
    for (const id of ['tasks', 'hook-registry', 'workspace-installer', 'authz-proxy']) {
      const nc = await natsAs(e2e, id);
      try {
        await checkEventsStream(nc, '');
        const jsm = await jetstreamManager(nc);
        const wider = { ...config, subjects: ['events.>', 'hooks.v1.>'] };
        await expect(jsm.streams.update(name, wider)).rejects.toThrow(/permission/i);
        const stolen = { name: 'STOLEN', subjects: ['hooks.v1.>'], republish: { src: 'hooks.v1.>', dest: `_INBOX_${id}.stolen.>` } };
        await expect(jsm.streams.add(stolen)).rejects.toThrow(/permission/i);
      } finally {
        await nc.close();
      }
    }
    const ops = await natsAs(e2e, 'ops');
    try {
      expect((await (await jetstreamManager(ops)).streams.info(name)).config.subjects).toEqual(['events.>']);
    } finally {
      await ops.close();
    }
  });

  it('a caller cannot forge a deregistration (core or JetStream): the granted reader keeps access', async () => {
    const admin = await token('acme', 'root', { roles: ['admin'] });
    const agent = await call(e2e, 'POST', '/v1/agents', { token: admin, body: { name: 'forgery-target' } });
    const task = await call(e2e, 'POST', '/v1/tasks', { token: admin, body: { agentId: agent.body.id, name: 'forgery-task' } });
    expect(task.status).toBe(201);
    // the agent's registration rides the outbox: a grant on it is accepted once it has landed
    const grant = await waitFor(
      () => call(e2e, 'POST', '/v1/authz/grants', { token: admin, body: { subject: 'user:reader', action: 'read', resource: `agent:${agent.body.id}` } }),
      (r) => r.status === 201,
      10_000,
    );
    expect(grant.status).toBe(201);
    await call(e2e, 'PUT', '/v1/authz/tenants/acme/mode', { token: admin, body: { mode: 'enforce' } });
    const reader = await token('acme', 'reader');
    const read = () => call(e2e, 'GET', `/v1/tasks/${task.body.id}`, { token: reader }).then((r) => r.status);
    expect(await waitFor(read, (s) => s === 200, 10_000)).toBe(200);

    const intruder = await natsAs(e2e, 'intruder');
    try {
      const forged = JSON.stringify({ resource: `task:${task.body.id}` });
      intruder.publish('events.tasks.resource_deregistered', forged);
      await expect(jetstream(intruder).publish('events.tasks.resource_deregistered', forged, { msgID: 'forged', timeout: 1_000 })).rejects.toThrow();
      await expect(intruder.request('authz.v1.deregister', forged, { timeout: 1_000 })).rejects.toThrow();
      await intruder.flush().catch(() => undefined);
    } finally {
      await intruder.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await read()).toBe(200);
    const check = await call(e2e, 'POST', '/v1/authz/check', { token: admin, body: { subject: 'user:reader', action: 'read', resource: `task:${task.body.id}` } });
    expect(check.body).toMatchObject({ allowed: true });
  });

  it('npm run nats:caller creates a caller identity for the running stack that works at once, and only as a caller', async () => {
    const out = execFileSync(process.execPath, [join(REPO_ROOT, 'tools/dist/nats-caller.js'), '--name', 'billing-backend', '--dir', join(e2e.nats.state.configFile, '..')], { encoding: 'utf8' });
    const info = JSON.parse(out.trim().split('\n').pop()!) as { servers: string; nkeySeedFile: string; inboxPrefix: string };
    expect(info).toEqual({ servers: e2e.nats.url, nkeySeedFile: expect.stringMatching(/billing-backend\.nk$/), inboxPrefix: '_INBOX_billing-backend' });
    expect(readFileSync(info.nkeySeedFile, 'utf8')).toMatch(/^SU/);
    const seed = new TextEncoder().encode(readFileSync(info.nkeySeedFile, 'utf8').trim());
    const nc = await waitFor(
      () => connect({ servers: info.servers, authenticator: nkeyAuthenticator(seed), inboxPrefix: info.inboxPrefix }).catch(() => undefined),
      (c) => c !== undefined,
      5_000,
    );
    expect(nc).toBeDefined();
    try {
      const alice = await token('acme', 'alice');
      const reply = await nc!.request('tasks.v1.create_agent', JSON.stringify({ name: 'from-billing' }), { timeout: 5_000, headers: headers() });
      expect(reply.json()).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
      const h = headers();
      h.set('authorization', `Bearer ${alice}`);
      const ok = await nc!.request('tasks.v1.create_agent', JSON.stringify({ name: 'from-billing' }), { timeout: 5_000, headers: h });
      expect(ok.json()).toMatchObject({ ok: true, data: { name: 'from-billing' } });
      // a caller's inbox is its own: asking with the default _INBOX prefix would need a subscription it may not have
      const tap = sniff(nc!, '_INBOX_test-caller.>');
      await waitFor(() => tap.refused(), Boolean, 5_000);
      expect(tap.refused()).toBe(true);
    } finally {
      await nc!.close();
    }
  });
});

describe('NATS over TLS with a development CA', () => {
  let e2e: E2E;

  beforeAll(async () => {
    e2e = await bootStack('e2e_tls', {}, { exactConfig: true, tls: true });
  }, 90_000);

  afterAll(async () => {
    await e2e?.stop();
  });

  it('runs the whole stack over TLS: REST through the gateway and a caller over NATS', async () => {
    expect(e2e.nats.url).toMatch(/^tls:\/\//);
    for (const name of ['tasks', 'gateway', 'authz-proxy']) expect(e2e.serviceEnv[name]!.NATS_TLS_CA).toBe(e2e.nats.ca!.ca);
    const alice = await token('acme', 'alice', { roles: ['admin'] });
    const agent = await call(e2e, 'POST', '/v1/agents', { token: alice, body: { name: 'over-tls' } });
    expect(agent.status).toBe(201);
    const task = await call(e2e, 'POST', '/v1/tasks', { token: alice, body: { agentId: agent.body.id, name: 't-over-tls' } });
    expect(task.status).toBe(201);
    const caller = await callerOf(e2e);
    try {
      const reply = await caller.request('tasks.v1.get', { id: task.body.id }, { token: alice });
      expect(reply.body).toMatchObject({ ok: true, data: { id: task.body.id } });
    } finally {
      await caller.close();
    }
  });

  it('refuses a client that does not trust the CA', async () => {
    const id = await e2e.nats.identity('test-caller');
    const seed = new TextEncoder().encode(readFileSync(id.seedFile, 'utf8').trim());
    await expect(connect({ servers: e2e.nats.url, authenticator: nkeyAuthenticator(seed), reconnect: false, timeout: 2_000 })).rejects.toThrow();
  });
});
