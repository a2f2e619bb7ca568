import { useState } from 'react';
import { useNavigate } from '@tanstack/react-router';
import { useQueryClient } from '@tanstack/react-query';
import { setToken, signInReason } from '../api/session.js';

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
          void navigate({ to: '/tasks' });
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
