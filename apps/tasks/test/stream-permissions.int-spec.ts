import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { EVENTS_STREAM_OPS_COMMAND, EventsStreamNotReadyError, awaitEventsStream, checkEventsStream, eventsStreamConfig, eventsStreamName } from '@agentplane/messaging';
import { connectAs, ensureTestEventsStream, testPrefix } from '@agentplane/testing';

// On the test server (the project's secured config, docker/nats/permissions.json): a stream's config names any
// subjects and a republish destination, so only ops may create or update one (DESIGN §2.1). A service that could
// would make JetStream capture another service's requests, answer them and republish them, bearer tokens included.
const SERVICES = ['tasks', 'hook-registry', 'workspace-installer', 'authz-proxy'];
const REFUSED = /permission/i;

describe('the events stream on the secured bus: only ops creates or updates it', () => {
  const prefix = testPrefix('stream_perm');
  const missing = testPrefix('stream_perm_missing');
  const conns: Record<string, NatsConnection> = {};
  const jsm: Record<string, JetStreamManager> = {};
  let ops: NatsConnection;

  beforeAll(async () => {
    ops = await connectAs('ops', 'stream-perm-ops');
    for (const id of SERVICES) {
      conns[id] = await connectAs(id, `stream-perm-${id}`);
      jsm[id] = await jetstreamManager(conns[id]);
    }
    await ensureTestEventsStream(prefix);
  });

  afterAll(async () => {
    for (const nc of Object.values(conns)) await nc.close();
    await ops?.close();
  });

  const opsStreams = async () => (await jetstreamManager(ops)).streams;

  it.each(SERVICES)('refuses %s creating the missing EVENTS with a republish of another service\'s requests, or any stream', async (id) => {
    const stolen = { subjects: [`${missing}events.>`, `${missing}hooks.v1.>`], republish: { src: `${missing}hooks.v1.>`, dest: `_INBOX_${id}.stolen.>` } };
    await expect(jsm[id]!.streams.add({ ...eventsStreamConfig(missing), ...stolen })).rejects.toThrow(REFUSED);
    await expect(jsm[id]!.streams.add({ name: `${missing.replace(/\./g, '_')}STOLEN`, subjects: [`${missing}hooks.v1.>`] })).rejects.toThrow(REFUSED);
    await expect((await opsStreams()).info(eventsStreamName(missing))).rejects.toThrow(/not found/i);
  });

  it.each(SERVICES)('refuses %s updating the existing EVENTS to capture another service\'s requests', async (id) => {
    const { name, ...config } = eventsStreamConfig(prefix);
    await expect(jsm[id]!.streams.update(name, { ...config, subjects: [`${prefix}events.>`, `${prefix}hooks.v1.>`] })).rejects.toThrow(REFUSED);
    expect((await (await opsStreams()).info(name)).config.subjects).toEqual([`${prefix}events.>`]);
  });

  it('lets a service check the stream ops created, and wait for (never create) a missing one, naming the fix', async () => {
    await expect(checkEventsStream(conns['tasks']!, prefix)).resolves.toBeUndefined();
    const err = await checkEventsStream(conns['tasks']!, missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventsStreamNotReadyError);
    expect((err as Error).message).toContain(EVENTS_STREAM_OPS_COMMAND);
    const warnings: object[] = [];
    const retry = { maxAttempts: 3, initialDelayMs: 10, logger: { warn: (obj: object) => void warnings.push(obj) } };
    await expect(awaitEventsStream(conns['authz-proxy']!, missing, { retry })).rejects.toBeInstanceOf(EventsStreamNotReadyError);
    expect(warnings).toHaveLength(2);
    expect(JSON.stringify(warnings[0])).toContain(EVENTS_STREAM_OPS_COMMAND);
    await expect((await opsStreams()).info(eventsStreamName(missing))).rejects.toThrow(/not found/i);
  });
});
