import { TurnBatch, type Asked } from './turn-batch.js';

describe('TurnBatch', () => {
  it('hands over the questions of one turn together, in order, and the next turn on its own', async () => {
    const batches: number[][] = [];
    const batch = new TurnBatch<{ n: number }, number>((asked: Array<Asked<{ n: number }, number>>) => {
      batches.push(asked.map((a) => a.n));
      for (const a of asked) a.resolve(a.n * 10);
    });
    const first = await Promise.all([batch.ask({ n: 1 }), batch.ask({ n: 2 }), batch.ask({ n: 3 })]);
    const second = await batch.ask({ n: 4 });
    expect(first).toEqual([10, 20, 30]);
    expect(second).toBe(40);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('settles each question on its own: one rejected, the others answered', async () => {
    const batch = new TurnBatch<{ n: number }, number>((asked) => {
      for (const a of asked) {
        if (a.n === 2) a.reject(new Error('two'));
        else a.resolve(a.n);
      }
    });
    const results = await Promise.allSettled([batch.ask({ n: 1 }), batch.ask({ n: 2 }), batch.ask({ n: 3 })]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});
