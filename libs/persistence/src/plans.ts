import type pg from 'pg';
import { preparedNameOf } from './sql.js';

interface PlanNode {
  'Index Name'?: string;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  Plans?: PlanNode[];
}

function indexesOf(node: PlanNode): string[] {
  return [...(node['Index Name'] ? [node['Index Name']] : []), ...(node.Plans ?? []).flatMap(indexesOf)];
}

/**
 * For plan tests: one execution of a statement already prepared on `client` (SqlPool names each statement after its
 * text), with the plan that connection keeps for it: the buffers it touched and the indexes it used. The statement
 * really runs: wrap a write in BEGIN … ROLLBACK.
 */
export async function explainPrepared(client: Pick<pg.ClientBase, 'query'>, text: string, args: string): Promise<{ buffers: number; indexes: string[] }> {
  const name = preparedNameOf(text);
  if (name === undefined) throw new Error('no prepared statement name for this text');
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE ${name}(${args})`);
  const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
  if (!plan) throw new Error('EXPLAIN returned no plan');
  return { buffers: plan['Shared Hit Blocks'] + plan['Shared Read Blocks'], indexes: indexesOf(plan) };
}
