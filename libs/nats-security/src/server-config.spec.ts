import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureIdentity, publicKeyOfSeedFile } from './identity.js';
import { SERVICE_IDENTITIES, inboxPrefixOf, loadPermissionTable, permissionsOf } from './permissions.js';
import { renderServerConfig } from './server-config.js';

describe('the committed permission table (docker/nats/permissions.json)', () => {
  const table = loadPermissionTable();

  it('confines every identity to its own inbox and never grants a wildcard subscription beyond it', () => {
    for (const name of [...SERVICE_IDENTITIES, 'some-caller']) {
      const p = permissionsOf(table, name, { prefix: '' });
      const inboxes = p.subscribe.filter((s) => s.startsWith('_INBOX'));
      expect([name, inboxes]).toEqual([name, [`${inboxPrefixOf(name)}.>`]]);
      expect(p.subscribe).not.toContain('>');
      expect(p.publish).not.toContain('>');
    }
  });

  it('lets a service subscribe only to its own request subjects, in its own queue group (and tasks to the decision revisions)', () => {
    const own: Record<string, string> = { tasks: 'tasks', 'hook-registry': 'hooks', 'workspace-installer': 'workspaces', 'authz-proxy': 'authz' };
    for (const [svc, subjects] of Object.entries(own)) {
      const subs = permissionsOf(table, svc, { prefix: '' }).subscribe.filter((s) => !s.startsWith('_INBOX'));
      expect(subs.filter((s) => !s.includes('.internal.'))).toEqual([`${subjects}.v1.> ${svc}`]);
      expect(subs.filter((s) => s.includes('.internal.'))).toEqual(({ tasks: ['tasks.internal.v1.resource_facts tasks', 'tasks.internal.v1.resource_counts tasks', 'tasks.internal.v1.pending_registrations tasks', 'tasks.internal.v1.wake', 'authz.internal.v1.revision'], 'hook-registry': ['hooks.internal.v1.resource_facts hook-registry', 'hooks.internal.v1.resource_counts hook-registry', 'hooks.internal.v1.pending_registrations hook-registry'], 'workspace-installer': ['workspaces.internal.v1.resource_facts workspace-installer', 'workspaces.internal.v1.resource_counts workspace-installer', 'workspaces.internal.v1.pending_registrations workspace-installer'] } as Record<string, string[]>)[svc] ?? []);
    }
    for (const name of ['gateway', 'ops', 'a-caller']) expect(permissionsOf(table, name, { prefix: '' }).subscribe).toEqual([`_INBOX_${name}.>`]);
  });

  it('lets no one but authz-proxy touch the EVENTS consumers, and no caller or the gateway publish an event or a registration', () => {
    for (const name of [...SERVICE_IDENTITIES, 'a-caller']) {
      const pub = permissionsOf(table, name, { prefix: '' }).publish;
      const consumers = pub.filter((s) => s.startsWith('$JS.API.CONSUMER') || s.startsWith('$JS.ACK'));
      if (name === 'authz-proxy') expect(consumers.length).toBeGreaterThan(0);
      else if (name !== 'ops') expect([name, consumers]).toEqual([name, []]);
    }
    for (const name of ['gateway', 'a-caller']) {
      const pub = permissionsOf(table, name, { prefix: '' }).publish;
      expect(pub.filter((s) => s.startsWith('events.') || s.startsWith('$JS') || /authz\.v1\.(register|deregister)$/.test(s))).toEqual([]);
    }
    expect(permissionsOf(table, 'tasks', { prefix: '' }).publish.filter((s) => s.startsWith('events.'))).toEqual(['events.tasks.>']);
  });

  it('lets no identity but ops create, update, delete or edit a stream (only read STREAM.INFO of EVENTS)', () => {
    // A stream's config names any subjects and a republish destination: a service that could create or update one
    // could capture, answer and republish another service's requests (their bearer tokens too).
    const matches = (grant: string, subject: string) => {
      const g = grant.split('.');
      const t = subject.split('.');
      for (let i = 0; i < g.length; i++) {
        if (g[i] === '>') return i < t.length;
        if (i >= t.length || (g[i] !== '*' && g[i] !== t[i])) return false;
      }
      return g.length === t.length;
    };
    const admin = ['CREATE', 'UPDATE', 'DELETE', 'PURGE', 'MSG.DELETE', 'SNAPSHOT', 'RESTORE', 'PEER.REMOVE', 'LEADER.STEPDOWN'];
    for (const prefix of ['', 'staging.', '*.']) {
      for (const name of [...SERVICE_IDENTITIES, 'a-caller']) {
        if (name === 'ops') continue;
        const pub = permissionsOf(table, name, { prefix }).publish;
        for (const stream of ['EVENTS', 'staging_EVENTS', 't_1_EVENTS', 'STOLEN']) {
          const granted = admin.filter((op) => pub.some((g) => matches(g, `$JS.API.STREAM.${op}.${stream}`)));
          expect([name, prefix, stream, granted]).toEqual([name, prefix, stream, []]);
        }
        expect([name, pub.filter((g) => g.startsWith('$JS.API.STREAM.') && !g.startsWith('$JS.API.STREAM.INFO.'))]).toEqual([name, []]);
      }
    }
    expect(permissionsOf(table, 'ops', { prefix: '' }).publish).toContain('$JS.API.>');
  });

  it('grants no one $JS.ACK: a consumer acks what was delivered to it through allow_responses', () => {
    // A grant would make every delivery's reply an answer the server never sees given (it is allowed outright), so each
    // would stay in the client's reply table for two minutes, and nats-server 2.9 walks that table on every delivery
    // to the client once it holds 4,096 (issue 19).
    for (const name of [...SERVICE_IDENTITIES, 'a-caller']) {
      expect([name, permissionsOf(table, name, { prefix: '' }).publish.filter((s) => s.startsWith('$JS.ACK') || s === '$JS.>' || s === '>')]).toEqual([name, []]);
    }
    expect(permissionsOf(table, 'authz-proxy', { prefix: '' }).allow_responses).toBe(true);
  });

  it('lets only authz-proxy ask an owning service for the facts of an unregistered resource or its pending registrations (internal subjects)', () => {
    for (const name of [...SERVICE_IDENTITIES, 'a-caller']) {
      const pub = permissionsOf(table, name, { prefix: '' }).publish;
      const internal = pub.filter((s) => s.includes('.internal.') && s !== 'tasks.internal.v1.wake' && s !== 'authz.internal.v1.revision');
      expect([name, internal]).toEqual([name, name === 'authz-proxy' ? ['tasks.internal.v1.resource_facts', 'tasks.internal.v1.resource_counts', 'hooks.internal.v1.resource_facts', 'hooks.internal.v1.resource_counts', 'workspaces.internal.v1.resource_facts', 'workspaces.internal.v1.resource_counts', 'tasks.internal.v1.pending_registrations', 'hooks.internal.v1.pending_registrations', 'workspaces.internal.v1.pending_registrations'] : []]);
      // the tasks instances' wake-ups (after a commit) are theirs alone: no one else may publish or hear them
      const wake = [...pub, ...permissionsOf(table, name, { prefix: '' }).subscribe].filter((s) => s.startsWith('tasks.internal.v1.wake'));
      expect([name, wake]).toEqual([name, name === 'tasks' ? ['tasks.internal.v1.wake', 'tasks.internal.v1.wake'] : []]);
      // the decision revisions (DESIGN §3, the decision cache) are announced by authz-proxy alone and heard by tasks, the
      // one service that keeps decisions; a forged announcement could only make tasks forget (it keeps the latest heard)
      const sub = permissionsOf(table, name, { prefix: '' }).subscribe;
      expect([name, pub.filter((s) => s.startsWith('authz.internal.'))]).toEqual([name, name === 'authz-proxy' ? ['authz.internal.v1.revision'] : []]);
      expect([name, sub.filter((s) => s.startsWith('authz.internal.'))]).toEqual([name, name === 'tasks' ? ['authz.internal.v1.revision'] : []]);
      // and no wildcard reaches them (a `<svc>.v1.>` grant does not match `<svc>.internal.…`)
      expect([name, pub.filter((s) => s === '>' || /^(tasks|hooks|workspaces|authz)\.(\*|>)/.test(s))]).toEqual([name, []]);
    }
  });

  it('expands the prefix and the stream name for a prefixed or a shared test server', () => {
    expect(permissionsOf(table, 'tasks', { prefix: 'staging.' }).publish).toEqual(expect.arrayContaining(['staging.events.tasks.>', '$JS.API.STREAM.INFO.staging_EVENTS']));
    expect(permissionsOf(table, 'tasks', { prefix: '*.' }).subscribe).toContain('*.tasks.v1.> tasks');
  });
});

describe('renderServerConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nats-security-spec-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists each identity by its public key only (never a seed), with no anonymous user, and TLS when asked', () => {
    const ids = ['tasks', 'gateway'].map((n) => ensureIdentity(dir, n));
    const text = renderServerConfig({ port: 4999, storeDir: '/data', identities: ids, tls: { ca: 'ca.pem', cert: 's.pem', key: 'k.pem' } });
    for (const id of ids) {
      expect(text).toContain(`nkey: "${id.publicKey}"`);
      expect(publicKeyOfSeedFile(id.seedFile)).toBe(id.publicKey);
    }
    expect(text).not.toMatch(/"SU[A-Z2-7]+"/);
    expect(text).not.toMatch(/no_auth_user/);
    expect(text).toContain('"tasks.v1.> tasks"');
    expect(text).toMatch(/tls \{\n\s+cert_file: "s.pem"/);
  });

  it('reuses an identity\'s seed on a second call', () => {
    const a = ensureIdentity(dir, 'again');
    const b = ensureIdentity(dir, 'again');
    expect([a.created, b.created, b.publicKey]).toEqual([true, false, a.publicKey]);
    expect(() => ensureIdentity(dir, 'bad name')).toThrow(/identity name/);
  });
});
