import { useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { api, unwrap } from '../api/client.js';

/**
 * An agent by its name, a link to the agent's tasks, beside its id; the id alone while the agent is read, or when it
 * cannot be (a worker may read a task of an agent it may not read). Every row and page naming one agent share one read.
 */
export function AgentName({ agentId }: { agentId: string }) {
  const agent = useQuery({
    queryKey: ['agent', agentId],
    queryFn: () => unwrap(api.GET('/v1/agents/{id}', { params: { path: { id: agentId } } })),
    // an agent's name never changes
    staleTime: Infinity,
    retry: false,
  });
  return (
    <>
      {agent.data && (
        <>
          <Link to="/tasks" search={{ agentId }} data-testid="agent-name">
            {agent.data.name}
          </Link>{' '}
        </>
      )}
      <code>{agentId}</code>
    </>
  );
}
