/** The bearer token lives in session storage (DESIGN §12): gone with the tab, never in a URL the server sees. */
const KEY = 'agentplane.token';
const REASON = 'agentplane.signin-reason';

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(KEY, token.trim());
  sessionStorage.removeItem(REASON);
}

export function signOut(reason?: string): void {
  sessionStorage.removeItem(KEY);
  if (reason) sessionStorage.setItem(REASON, reason);
  else sessionStorage.removeItem(REASON);
}

export function signInReason(): string | null {
  return sessionStorage.getItem(REASON);
}

/** `/console/#token=…` (what `npm start` prints): take the token, then drop it from the address bar and history. */
export function adoptTokenFromFragment(loc: Location = window.location, hist: History = window.history): boolean {
  const params = new URLSearchParams(loc.hash.replace(/^#/, ''));
  const token = params.get('token');
  if (!token) return false;
  setToken(token);
  hist.replaceState(hist.state, '', loc.pathname + loc.search);
  return true;
}

/** The tenant of the signed-in token (its `tid` claim), read from the JWT's payload; the gateway still verifies it. */
export function tokenTenant(token: string | null = getToken()): string | null {
  const payload = token?.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const tid = (JSON.parse(json) as { tid?: unknown }).tid;
    return typeof tid === 'string' && tid ? tid : null;
  } catch {
    return null;
  }
}
