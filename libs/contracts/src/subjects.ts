/**
 * Every request/reply subject of DESIGN §8 (and those added since: tasks.v1.get_agent_by_name,
 * hooks.v1.list_live_changes, authz.v1.list_grants and grant_history, workspaces.v1.list_plugin_changes), including
 * those whose service is not built yet.
 */
export const SUBJECTS = {
  tasks: [
    'create_agent', 'get_agent', 'get_agent_by_name', 'list_agents', 'agent_stats', 'create', 'get', 'get_by_name', 'list',
    'cancel', 'delete', 'claim', 'heartbeat', 'complete', 'fail', 'list_events',
  ],
  authz: ['register', 'deregister', 'grant', 'revoke', 'check', 'explain', 'lookup', 'set_mode', 'tenant_status', 'list_grants', 'grant_history'],
  hooks: [
    'deploy_convention', 'get_convention', 'list', 'get', 'list_releases', 'get_release', 'create_release',
    'set_live', 'start_run', 'finish_run', 'add_outputs', 'get_provenance', 'list_live_changes',
  ],
  workspaces: [
    'create', 'list', 'get', 'remove', 'install_platform_agent', 'heartbeat', 'enable_plugin', 'disable_plugin', 'list_plugins',
    'list_plugin_changes',
  ],
} as const;

export const EVENTS_STREAM = 'EVENTS';

export function subjectOf(service: keyof typeof SUBJECTS, verb: string): string {
  return `${service}.v1.${verb}`;
}
