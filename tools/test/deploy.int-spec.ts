import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT, SERVICES } from '../src/stack.js';

interface ComposeService {
  build?: { args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
}

describe('deployment files', () => {
  const compose = parse(readFileSync(join(REPO_ROOT, 'docker/compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
  const dockerfile = readFileSync(join(REPO_ROOT, 'docker/Dockerfile'), 'utf8');

  it('runs postgres and nats with JetStream and the rendered, secured config', () => {
    expect(compose.services.postgres).toBeDefined();
    expect(compose.services.nats?.command).toContain('-js');
    expect(compose.services.nats?.command).toEqual(expect.arrayContaining(['-c', '/etc/nats/nats.conf']));
  });

  it.each(SERVICES.map((s) => s.name))('has a health-checked service for %s built from the one Dockerfile', (name) => {
    const svc = compose.services[name];
    expect(svc).toBeDefined();
    expect(svc!.build?.args?.APP).toBe(name);
    expect(svc!.healthcheck?.test?.join(' ')).toContain('/readyz');
    expect(svc!.environment?.NATS_URL).toBe('nats://nats:4222');
    // its own NATS identity (DESIGN §2.1): its seed, mounted alone, and its own inbox prefix
    expect(svc!.environment?.NATS_NKEY_SEED_FILE).toBe(`/run/nats/${name}.nk`);
    expect(svc!.environment?.NATS_INBOX_PREFIX).toBe(`_INBOX_${name}`);
    expect(svc!.volumes).toEqual([`./nats/compose/identities/${name}.nk:/run/nats/${name}.nk:ro`]);
    expect(svc!.depends_on?.nats?.condition).toBe('service_healthy');
    const spec = SERVICES.find((s) => s.name === name)!;
    if (spec.database) expect(svc!.environment?.DATABASE_URL).toMatch(new RegExp(`/${spec.database}$`));
  });

  it('creates the EVENTS stream once as the ops identity before any service that publishes or consumes events', () => {
    const stream = compose.services['nats-stream'];
    expect(stream?.command).toEqual(['node', 'tools/dist/nats-stream.js']);
    expect(stream?.environment?.NATS_NKEY_SEED_FILE).toBe('/run/nats/ops.nk');
    expect(stream?.volumes).toEqual(['./nats/compose/identities/ops.nk:/run/nats/ops.nk:ro']);
    for (const name of SERVICES.map((s) => s.name).filter((n) => n !== 'gateway')) {
      expect({ name, condition: compose.services[name]?.depends_on?.['nats-stream']?.condition }).toEqual({
        name,
        condition: 'service_completed_successfully',
      });
    }
  });

  it('builds in stages and migrates before serving', () => {
    expect(dockerfile).toMatch(/FROM .* AS build/);
    expect(dockerfile).toMatch(/FROM .* AS runtime/);
    expect(dockerfile).toContain('migrate.js up --service $APP');
  });
});

describe('configuration at start', () => {
  it.each(SERVICES.map((s) => s.name))('%s refuses to start on a bad value, naming the variable', (name) => {
    const main = join(REPO_ROOT, 'apps', name, 'dist', 'main.js');
    const r = spawnSync(process.execPath, [main], {
      env: { PATH: process.env.PATH ?? '', HTTP_PORT: 'not-a-port', AUTH_JWT_SECRET: 'short', NATS_SUBJECT_PREFIX: 'bad prefix', NATS_NKEY_SEED_FILE: '/nonexistent/seed.nk', NATS_INBOX_PREFIX: '_INBOX.shared' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('HTTP_PORT');
    expect(r.stderr).toContain('AUTH_JWT_SECRET');
    expect(r.stderr).toContain('NATS_SUBJECT_PREFIX');
    expect(r.stderr).toContain('NATS_NKEY_SEED_FILE');
    expect(r.stderr).toContain('NATS_INBOX_PREFIX');
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });
});
