import type { NatsConnection } from '@nats-io/transport-node';
import type { AuthzSettings } from '../config.js';
import { RevisionAnnouncer } from './revision.announcer.js';
import type { TenantRevision, TuplesRepository } from './tuples.repository.js';

/** The announcer over a recording NATS connection and a repository whose beacon read the test decides. */
function setup(recent: () => Promise<TenantRevision[]>) {
  const published: Array<{ subject: string; notice: unknown }> = [];
  let flushed!: () => void;
  const flushes: Array<Promise<void>> = [];
  const nc = {
    isClosed: () => false,
    publish: (subject: string, data: string) => void published.push({ subject, notice: JSON.parse(data) }),
    flush: () => {
      const p = new Promise<void>((r) => (flushed = r));
      flushes.push(p);
      return p;
    },
  } as unknown as NatsConnection;
  let listener!: (r: TenantRevision[]) => Promise<void>;
  const tuples = { onRevision: (l: typeof listener) => (listener = l), recentRevisions: recent } as unknown as TuplesRepository;
  const settings = { defaultMode: 'enforce', maxDepth: 8, revisionBeacon: { everyMs: 60_000, windowMs: 10_000 } } as AuthzSettings;
  const announcer = new RevisionAnnouncer(nc, { prefix: 'p.' }, settings, tuples);
  return { announcer, published, announce: (r: TenantRevision[]) => listener(r), flush: () => flushed(), flushes };
}

describe('RevisionAnnouncer', () => {
  it('publishes a commit\'s bumps and settles only once nats-server has them (the flush), before the change replies', async () => {
    const { published, announce, flush, flushes } = setup(async () => []);
    let settled = false;
    const done = announce([{ tenant: 'acme', rev: '3' }]).then(() => (settled = true));
    expect(published).toEqual([{ subject: 'p.authz.internal.v1.revision', notice: { revisions: [{ tenant: 'acme', rev: '3' }], beacon: false, epoch: 'enforce-8' } }]);
    await Promise.resolve();
    expect([flushes.length, settled]).toEqual([1, false]);
    flush();
    await done;
    expect(settled).toBe(true);
  });

  it('beacons what the database says was bumped lately, and nothing when it cannot read it', async () => {
    let fail = false;
    const { announcer, published } = setup(async () => {
      if (fail) throw new Error('database down');
      return [{ tenant: 'acme', rev: '3' }];
    });
    announcer.onApplicationBootstrap();
    await new Promise((r) => setImmediate(r));
    expect(published.map((p) => p.notice)).toEqual([{ revisions: [{ tenant: 'acme', rev: '3' }], beacon: true, epoch: 'enforce-8' }]);
    fail = true;
    await (announcer as unknown as { beacon(): Promise<void> }).beacon();
    expect(published).toHaveLength(1); // no beacon: the services stop answering from their caches
    announcer.beforeApplicationShutdown();
  });
});
