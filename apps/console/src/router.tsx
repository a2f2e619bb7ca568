import { MutationCache, QueryCache, QueryClient } from '@tanstack/react-query';
import { createRootRouteWithContext, createRoute, createRouter, Outlet, redirect } from '@tanstack/react-router';
import { ApiError } from './api/client.js';
import { getToken, rememberReturnTo, signOut } from './api/session.js';
import { Layout } from './components/Layout.js';
import { SignInPage } from './routes/signin.js';
import { TasksPage, validateTaskSearch } from './routes/tasks.js';
import { TaskPage } from './routes/task.js';
import { AgentsPage } from './routes/agents.js';
import { HooksPage } from './routes/hooks.js';
import { HookPage } from './routes/hook.js';
import { WorkspacesPage } from './routes/workspaces.js';
import { AuthzPage, validateAuthzSearch } from './routes/authz.js';
import { ProvenancePage, validateProvenanceSearch } from './routes/provenance.js';

/** A 401 anywhere ends the session: back to sign-in, with the API's reason. */
function onApiError(err: unknown): void {
  if (err instanceof ApiError && err.status === 401) {
    rememberReturnTo();
    signOut(`${err.code}: ${err.message}`);
    void router.navigate({ to: '/signin' });
  }
}

export const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError: onApiError }),
  mutationCache: new MutationCache({ onError: onApiError }),
  defaultOptions: { queries: { retry: (n, err) => !(err instanceof ApiError && err.status > 0 && err.status < 500) && n < 2, staleTime: 2_000 } },
});

const root = createRootRouteWithContext<{ queryClient: QueryClient }>()({ component: () => <Outlet /> });

const signin = createRoute({ getParentRoute: () => root, path: '/signin', component: SignInPage });

/** Every page but sign-in needs a token. */
const app = createRoute({
  getParentRoute: () => root,
  id: 'app',
  beforeLoad: () => {
    if (getToken()) return;
    rememberReturnTo();
    throw redirect({ to: '/signin' });
  },
  component: Layout,
});

const index = createRoute({ getParentRoute: () => app, path: '/', beforeLoad: () => { throw redirect({ to: '/tasks' }); } });
const tasks = createRoute({ getParentRoute: () => app, path: '/tasks', validateSearch: validateTaskSearch, component: TasksPage });
const task = createRoute({ getParentRoute: () => app, path: '/tasks/$taskId', component: TaskPage });
const agents = createRoute({ getParentRoute: () => app, path: '/agents', component: AgentsPage });
const hooks = createRoute({ getParentRoute: () => app, path: '/hooks', component: HooksPage });
const hook = createRoute({ getParentRoute: () => app, path: '/hooks/$name', component: HookPage });
const workspaces = createRoute({ getParentRoute: () => app, path: '/workspaces', component: WorkspacesPage });

const authz = createRoute({ getParentRoute: () => app, path: '/authz', validateSearch: validateAuthzSearch, component: AuthzPage });

const provenance = createRoute({ getParentRoute: () => app, path: '/provenance', validateSearch: validateProvenanceSearch, component: ProvenancePage });

const routeTree = root.addChildren([signin, app.addChildren([index, tasks, task, agents, hooks, hook, workspaces, authz, provenance])]);

export const router = createRouter({ routeTree, basepath: '/console', context: { queryClient }, defaultPreload: false });

declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router;
  }
}
