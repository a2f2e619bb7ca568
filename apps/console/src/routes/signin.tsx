import { useState } from 'react';
import { useNavigate } from '@tanstack/react-router';
import { useQueryClient } from '@tanstack/react-query';
import { setToken, signInReason, takeReturnTo } from '../api/session.js';

export function SignInPage() {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [token, setValue] = useState('');
  const reason = signInReason();
  return (
    <main id="main" className="signin">
      <h1>Sign in to Agentplane</h1>
      {reason && (
        <p role="alert" className="error">
          You were signed out: {reason}
        </p>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!token.trim()) return;
          setToken(token);
          qc.clear();
          // back to the page that asked for a session (its search and event link too), else the tasks
          const back = takeReturnTo();
          if (back) window.location.replace(back);
          else void navigate({ to: '/tasks' });
        }}
      >
        <label htmlFor="token">Bearer token</label>
        <textarea id="token" name="token" rows={4} value={token} onChange={(e) => setValue(e.target.value)} required />
        <p className="muted">
          Paste a JWT (<code>npm run token -- --tenant T --sub U --roles admin</code>). It is kept in this tab&apos;s session storage only.
        </p>
        <button type="submit" className="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}
