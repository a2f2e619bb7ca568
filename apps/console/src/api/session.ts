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
