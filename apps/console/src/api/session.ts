/** The bearer token lives in session storage (DESIGN §12): gone with the tab, never in a URL the server sees. */
const KEY = 'agentplane.token';
const REASON = 'agentplane.signin-reason';
const RETURN_TO = 'agentplane.return-to';

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
  else {
    // signed out on purpose: the next sign-in starts afresh
    sessionStorage.removeItem(REASON);
    sessionStorage.removeItem(RETURN_TO);
  }
}

export function signInReason(): string | null {
  return sessionStorage.getItem(REASON);
}

/** Only a page of the console, never another origin (`//host`, `https://…`) nor a token fragment. */
function isConsolePath(path: string): boolean {
  return path.startsWith('/console/') && !/[\\\s]/.test(path) && !path.includes('token=');
}

/** Where a person was (a deep link opened without a session, or a page whose session ended): sign-in returns there. */
export function rememberReturnTo(loc: Pick<Location, 'pathname' | 'search' | 'hash'> = window.location): void {
  const path = loc.pathname + loc.search + loc.hash;
  if (isConsolePath(path) && !loc.pathname.startsWith('/console/signin')) sessionStorage.setItem(RETURN_TO, path);
}

/** The page to return to after signing in, once: taken out of storage, and only if it is a console page. */
export function takeReturnTo(): string | null {
  const path = sessionStorage.getItem(RETURN_TO);
  sessionStorage.removeItem(RETURN_TO);
  return path && isConsolePath(path) ? path : null;
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
