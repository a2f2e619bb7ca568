import { KnownAgents, type AgentFacts } from './known-agents.js';

describe('KnownAgents', () => {
  const agent = (id: string): AgentFacts => ({ id, createdBy: 'user:alice', maxConcurrency: null });

  it('reads an agent once per tenant, then answers from memory', async () => {
    const known = new KnownAgents();
    let reads = 0;
    const read = async () => {
      reads++;
      return agent('a1');
    };
    expect(await known.get('acme', 'a1', read)).toEqual(agent('a1'));
    expect(await known.get('acme', 'a1', read)).toEqual(agent('a1'));
    expect(reads).toBe(1);
    // another tenant's lookup of the same id is its own (and reads again)
    await known.get('globex', 'a1', read);
    expect(reads).toBe(2);
  });

  it('never keeps an agent that was not found', async () => {
    const known = new KnownAgents();
    let exists = false;
    const read = async () => (exists ? agent('a2') : null);
    expect(await known.get('acme', 'a2', read)).toBeNull();
    exists = true;
    expect(await known.get('acme', 'a2', read)).toEqual(agent('a2'));
  });

  it('keeps at most `max` agents, dropping the oldest', async () => {
    const known = new KnownAgents(2);
    let reads = 0;
    const read = (id: string) => async () => {
      reads++;
      return agent(id);
    };
    await known.get('t', 'a', read('a'));
    await known.get('t', 'b', read('b'));
    await known.get('t', 'c', read('c'));
    expect(known.size).toBe(2);
    await known.get('t', 'a', read('a'));
    expect(reads).toBe(4);
  });
});
