import type { NatsConnection } from '@nats-io/transport-node';
import { connectAs, testPrefix } from '@agentplane/testing';
import { SqlPool, type TestDatabase } from '@agentplane/persistence';
import { TaskWakeups } from '../src/tasks/task-wakeups.js';
import { TasksRepository } from '../src/tasks/tasks.repository.js';
import { tasksDatabase } from './setup.js';

/**
 * Wake-ups between tasks instances (DESIGN §4.1): keys published after a commit on `tasks.internal.v1.wake` reach the
 * waiters of every instance; a transaction that rolls back publishes nothing.
 */
describe('tasks wake-ups over NATS', () => {
  const prefix = testPrefix('wake');
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let a: TaskWakeups;
  let b: TaskWakeups;

  beforeAll(async () => {
    // as the tasks identity: the only one the bus lets publish or hear the wake-ups
    ncA = await connectAs('tasks', 'wake-a');
    ncB = await connectAs('tasks', 'wake-b');
    a = new TaskWakeups(ncA, { prefix });
    b = new TaskWakeups(ncB, { prefix });
    a.onApplicationBootstrap();
    b.onApplicationBootstrap();
    await Promise.all([ncA.flush(), ncB.flush()]);
  });

  afterAll(async () => {
    a?.onApplicationShutdown();
    b?.onApplicationShutdown();
    await ncA?.drain();
    await ncB?.drain();
  });

  it("wakes another instance's waiter at once (well within its 5 s wait), only for its key, and at a due time it names", async () => {
    const watch = a.watch('a:agent-1');
    const other = a.watch('a:agent-2');
    const t0 = Date.now();
    const woken = watch.wait(5_000);
    const notWoken = other.wait(400);
    b.publish(['t:some-task', 'a:agent-1']);
    expect(await woken).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await notWoken).toBe(false);

    // `@<ms>`: claimable from then on; the waiter wakes then, not at once
    const due = Date.now() + 300;
    const later = watch.wait(5_000);
    b.publish([`a:agent-1@${due}`]);
    expect(await later).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(due);
    expect(Date.now() - due).toBeLessThan(1_000);
    watch.close();
    other.close();
  });

  it('wakes one waiting claim per claimable task, hands an unused wake-up on, and every watcher of a task', async () => {
    // Every wake-up published so far has reached instance A and been acted on: B sends its keys at the end of the
    // turn (publish gathers a turn's keys), then B's PUB precedes the server's PONG to B, and A's PONG follows that
    // message on A's connection; a tick more for the waiters' own continuations.
    const settle = async () => {
      await new Promise((r) => setImmediate(r));
      await ncB.flush();
      await ncA.flush();
      await new Promise((r) => setImmediate(r));
    };
    const claims = [a.watch('a:agent-9'), a.watch('a:agent-9'), a.watch('a:agent-9')];
    const woken = [false, false, false];
    const waiting = claims.map((w, i) => w.wait(3_000).then((x) => (woken[i] = x)));
    b.publish(['a:agent-9']);
    await settle();
    expect(woken).toEqual([true, false, false]); // the longest-waiting one
    b.publish(['a:agent-9']);
    await settle();
    expect(woken).toEqual([true, true, false]);
    // a claim waiting is preferred to one busy claiming
    b.publish(['a:agent-9']);
    await settle();
    expect(woken).toEqual([true, true, true]);
    await Promise.all(waiting);
    // none waits (all busy claiming) when a task arrives: the longest-watching one holds the wake-up, and a claim
    // that waits again meanwhile is not woken for the same task; if the holder ends without waiting again (it
    // claimed a task already), the wake-up passes to the claim that waits
    b.publish(['a:agent-9']);
    await settle();
    let again = false;
    const second = claims[1]!.wait(3_000).then((x) => (again = x));
    await settle();
    expect(again).toBe(false);
    claims[0]!.close();
    await settle();
    expect(again).toBe(true);
    await second;
    await Promise.all(waiting);
    claims.forEach((w) => w.close());

    const readers = [a.watch('t:task-9'), a.watch('t:task-9')];
    const seen = await Promise.all([...readers.map((w) => w.wait(3_000)), (async () => (b.publish(['t:task-9']), true))()]);
    expect(seen).toEqual([true, true, true]);
    readers.forEach((w) => w.close());
  });

  it('wakes each claim at the due time of its own task: a later one is kept, not merged into an earlier one', async () => {
    const t0 = Date.now();
    const [first, second] = [a.watch('a:agent-5'), a.watch('a:agent-5')];
    const at = (w: typeof first) => w.wait(3_000).then((woken) => ({ woken, ms: Date.now() - t0 }));
    const woken = [at(first), at(second)];
    b.publish([`a:agent-5@${t0 + 300}`, `a:agent-5@${t0 + 700}`]);
    const [one, two] = await Promise.all(woken);
    expect([one!.woken, two!.woken]).toEqual([true, true]);
    expect(one!.ms).toBeGreaterThanOrEqual(300);
    expect(two!.ms).toBeGreaterThanOrEqual(700);
    expect(Math.max(one!.ms - 300, two!.ms - 700)).toBeLessThan(250);
    first.close();
    second.close();
  });

  it('keeps a due time beside a wake-up for now: one claim wakes at once, and again when the later task is due', async () => {
    // a retry on a capped agent: its slot is free now (`a:`), the task itself is due after its backoff (`a:…@due`)
    const t0 = Date.now();
    const claim = a.watch('a:agent-6');
    const first = claim.wait(3_000);
    b.publish([`a:agent-6@${t0 + 400}`, 'a:agent-6']);
    expect(await first).toBe(true);
    expect(Date.now() - t0).toBeLessThan(300);
    // it found nothing due (the task is in its backoff) and waits again
    expect(await claim.wait(3_000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(Date.now() - t0).toBeLessThan(650);
    claim.close();
  });

  it("sends the keys of one turn of the event loop as one message, in order and with repeats, each waking a claim", async () => {
    const heard: string[] = [];
    const sub = ncB.subscribe(`${prefix}tasks.internal.v1.wake`, { callback: (_err, msg) => void heard.push(msg.string()) });
    await ncB.flush();
    const claims = [b.watch('a:agent-7'), b.watch('a:agent-7'), b.watch('a:agent-7')];
    const woken = claims.map((w) => w.wait(3_000));
    // three commits landing together, as a burst of creates on one agent does
    a.publish(['a:agent-7', 't:task-71']);
    a.publish(['a:agent-7']);
    a.publish(['a:agent-7', 't:task-72']);
    expect(await Promise.all(woken)).toEqual([true, true, true]);
    await new Promise((r) => setImmediate(r));
    await ncA.flush();
    await ncB.flush();
    expect(heard).toEqual(['a:agent-7\nt:task-71\na:agent-7\na:agent-7\nt:task-72']);
    // and a later turn is a message of its own
    a.publish(['t:task-73']);
    await new Promise((r) => setImmediate(r));
    await ncA.flush();
    await ncB.flush();
    expect(heard).toHaveLength(2);
    sub.unsubscribe();
    claims.forEach((w) => w.close());
  });

  describe('TasksRepository.transaction', () => {
    let db: TestDatabase;
    let pool: SqlPool;
    const published: string[][] = [];

    beforeAll(async () => {
      db = await tasksDatabase();
      pool = new SqlPool({ url: db.url, max: 2 });
    });
    afterAll(async () => {
      await pool?.end();
      await db?.drop();
    });

    it('publishes the keys a transaction asked for once it commits, and none for one that rolls back', async () => {
      const repo = new TasksRepository(null as never, pool, { publish: (keys: string[]) => published.push(keys) } as never);
      await repo.transaction(async (tx) => {
        repo.wakeAfterCommit(tx, 't:1', 'a:2');
        await tx.$queryRaw`SELECT 1`;
        expect(published).toEqual([]); // not before the commit
      });
      expect(published).toEqual([['t:1', 'a:2']]);
      await expect(
        repo.transaction(async (tx) => {
          repo.wakeAfterCommit(tx, 't:3');
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(published).toEqual([['t:1', 'a:2']]);
      await expect(pool.$transaction(async (tx) => repo.wakeAfterCommit(tx, 't:4'))).rejects.toThrow(/TasksRepository.transaction/);
    });
  });
});
