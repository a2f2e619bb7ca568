import { Link, Outlet, useNavigate } from '@tanstack/react-router';
import { useQueryClient } from '@tanstack/react-query';
import { signOut } from '../api/session.js';

const NAV = [
  ['/tasks', 'Tasks'],
  ['/agents', 'Agents'],
  ['/hooks', 'Hooks'],
  ['/workspaces', 'Workspaces'],
  ['/authz', 'Authz'],
  ['/provenance', 'Provenance'],
] as const;

export function Layout() {
  const navigate = useNavigate();
  const qc = useQueryClient();
  return (
    <>
      <header>
        <a className="skip" href="#main">
          Skip to content
        </a>
        <strong className="brand">Agentplane</strong>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <Link to={to} activeProps={{ 'aria-current': 'page', className: 'active' }}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          onClick={() => {
            signOut();
            qc.clear();
            void navigate({ to: '/signin' });
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">
        <Outlet />
      </main>
    </>
  );
}
