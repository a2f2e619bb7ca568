import { JetStreamApiError, RetentionPolicy } from '@nats-io/jetstream';
import { durableConsumers, ensureStream, eventsStreamConfig, eventsStreamProblem, subjectCovers, subjectsOverlap, type StreamsApi } from './jetstream.js';

describe('durable consumer layout', () => {
  const filters = ['events.*.resource_registered', 'events.*.resource_deregistered', 'events.*.resource_reparented'];

  it('is one consumer named after the durable on nats-server 2.10+, replacing the per-filter consumers of older servers', () => {
    const older = durableConsumers('authz-proxy', filters, false);
    const newer = durableConsumers('authz-proxy', filters, true);
    expect(newer.consumers).toEqual([{ name: 'authz-proxy', filterSubjects: filters }]);
    expect(newer.replaces).toEqual(older.consumers.map((c) => c.name));
  });

  it('before 2.10 is one consumer per filter, named deterministically after the durable and the filter, replacing the durable', () => {
    const { consumers, replaces } = durableConsumers('authz-proxy', filters, false);
    expect(consumers.map((c) => c.filterSubjects)).toEqual(filters.map((f) => [f]));
    expect(consumers.map((c) => c.name)).toEqual([
      expect.stringMatching(/^authz-proxy_resource_registered_[0-9a-f]{6}$/),
      expect.stringMatching(/^authz-proxy_resource_deregistered_[0-9a-f]{6}$/),
      expect.stringMatching(/^authz-proxy_resource_reparented_[0-9a-f]{6}$/),
    ]);
    expect(durableConsumers('authz-proxy', filters, false).consumers).toEqual(consumers);
    expect(replaces).toEqual(['authz-proxy']);
  });

  it('keeps two filters with the same last token apart, and names a filter of wildcards only', () => {
    const { consumers } = durableConsumers('d', ['events.tasks.x', 'events.hooks.x', 'events.>'], false);
    expect(new Set(consumers.map((c) => c.name)).size).toBe(3);
    expect(consumers[2]!.name).toMatch(/^d_events_[0-9a-f]{6}$/);
    expect(durableConsumers('d', ['*.>', 'a.b'], false).consumers[0]!.name).toMatch(/^d_all_[0-9a-f]{6}$/);
  });

  it('is the durable itself for one filter, whatever the server', () => {
    for (const v210 of [false, true]) expect(durableConsumers('d', ['events.a.>'], v210)).toEqual({ consumers: [{ name: 'd', filterSubjects: ['events.a.>'] }], replaces: [] });
  });
});

describe('subject filters', () => {
  it.each([
    ['events.*.x', 'events.tasks.x', true],
    ['events.>', 'events.tasks.x', true],
    ['events.tasks.>', 'events.*.x', true],
    ['events.*.x', 'events.*.y', false],
    ['events.a', 'events.a.b', false],
    ['events.a.>', 'events.a', false],
    ['a.b', 'a.b', true],
  ])('%s and %s overlap: %s', (a, b, expected) => {
    expect(subjectsOverlap(a, b)).toBe(expected);
    expect(subjectsOverlap(b, a)).toBe(expected);
  });

  it.each([
    ['events.>', 'events.*.x', true],
    ['events.>', 'events.>', true],
    ['p.events.>', 'p.events.tasks.resource_registered', true],
    ['events.*.x', 'events.tasks.x', true],
    ['events.*.x', 'events.*.x', true],
    ['events.tasks.x', 'events.*.x', false],
    ['events.*.x', 'events.>', false],
    ['events.>', 'events', false],
    ['events.*', 'events.a.b', false],
    ['>', 'anything.at.all', true],
  ])('%s covers %s: %s', (a, b, expected) => {
    expect(subjectCovers(a, b)).toBe(expected);
  });
});

describe('ensureStream', () => {
  const apiError = (code: number, status: number, description: string) => new JetStreamApiError({ code: status, err_code: code, description });
  const notFound = () => apiError(10059, 404, 'stream not found');
  /** A streams API whose stream appears when `appearsAt` info calls have been made, and whose add fails with `addFails`. */
  function fakeStreams(opts: { appearsAt: number; addFails?: Error }) {
    const calls: string[] = [];
    let infos = 0;
    const streams = {
      info: async () => {
        calls.push('info');
        if (++infos < opts.appearsAt) throw notFound();
        return {};
      },
      add: async () => {
        calls.push('add');
        if (opts.addFails) throw opts.addFails;
        return {};
      },
      update: async (name: string, update: object) => {
        calls.push(`update ${name} ${JSON.stringify(update)}`);
        return {};
      },
    };
    return { streams: streams as unknown as StreamsApi, calls };
  }
  const config = { name: 'EVENTS', subjects: ['events.>'] };

  it('creates a missing stream, and updates one that exists', async () => {
    const missing = fakeStreams({ appearsAt: Infinity });
    await ensureStream(missing.streams, config);
    expect(missing.calls).toEqual(['info', 'add']);
    const there = fakeStreams({ appearsAt: 1 });
    await ensureStream(there.streams, config);
    expect(there.calls).toEqual(['info', 'update EVENTS {"subjects":["events.>"]}']);
  });

  it('a create that lost the race (10058, or 10065 from nats-server 2.9) updates the stream the winner made', async () => {
    for (const lost of [apiError(10058, 400, 'stream name already in use'), apiError(10065, 400, 'subjects overlap with an existing stream')]) {
      const raced = fakeStreams({ appearsAt: 2, addFails: lost });
      await ensureStream(raced.streams, config);
      expect(raced.calls.at(-1)).toBe('update EVENTS {"subjects":["events.>"]}');
    }
  });

  it('subjects overlapping another stream, with none of this name, are an error', async () => {
    const foreign = fakeStreams({ appearsAt: Infinity, addFails: apiError(10065, 400, 'subjects overlap with an existing stream') });
    await expect(ensureStream(foreign.streams, config)).rejects.toThrow('subjects overlap with an existing stream');
    expect(foreign.calls).toEqual(['info', 'add', 'info']);
  });
});

describe('eventsStreamProblem (what a service accepts of the stream operators made)', () => {
  const ours = eventsStreamConfig('t_1.');

  it('accepts our config, and a wider one: more subjects, a longer duplicate window, other limits', () => {
    expect(eventsStreamProblem(ours, 't_1.')).toBeUndefined();
    const wider = { ...ours, subjects: ['t_1.>'], duplicate_window: ours.duplicate_window! * 2, max_age: 3_600e9, num_replicas: 3 };
    expect(eventsStreamProblem(wider, 't_1.')).toBeUndefined();
  });

  it('names what is wrong: subjects that miss ours, a short window, another retention, no acks, sealed', () => {
    expect(eventsStreamProblem({ ...ours, subjects: ['t_1.events.tasks.>'] }, 't_1.')).toMatch(/do not capture t_1\.events\.>/);
    expect(eventsStreamProblem({ ...ours, subjects: ['events.>'] }, 't_1.')).toMatch(/do not capture/);
    expect(eventsStreamProblem({ ...ours, duplicate_window: 1e9 }, 't_1.')).toMatch(/duplicate window \(1000 ms\) is under 120000 ms/);
    expect(eventsStreamProblem(ours, 't_1.', { duplicateWindowMs: 300_000 })).toMatch(/duplicate window/);
    expect(eventsStreamProblem({ ...ours, retention: RetentionPolicy.Workqueue }, 't_1.')).toMatch(/retention/);
    expect(eventsStreamProblem({ ...ours, no_ack: true }, 't_1.')).toMatch(/no_ack/);
    expect(eventsStreamProblem({ ...ours, sealed: true }, 't_1.')).toMatch(/sealed/);
  });
});
