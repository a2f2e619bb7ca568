import { describe, expect, it, vi } from 'vitest';
import { adoptTokenFromFragment, getToken, rememberReturnTo, signInReason, signOut, takeReturnTo } from '../api/session.js';

describe('session', () => {
  it('takes the token from the URL fragment into session storage and clears it from the address bar', () => {
    const replaceState = vi.fn();
    const loc = { hash: '#token=abc.def.ghi', pathname: '/console/tasks', search: '?status=running' } as Location;
    expect(adoptTokenFromFragment(loc, { state: null, replaceState } as unknown as History)).toBe(true);
    expect(getToken()).toBe('abc.def.ghi');
    expect(replaceState).toHaveBeenCalledWith(null, '', '/console/tasks?status=running');
  });

  it('leaves the session alone without a token in the fragment', () => {
    const replaceState = vi.fn();
    expect(adoptTokenFromFragment({ hash: '#other=1', pathname: '/console/', search: '' } as Location, { state: null, replaceState } as unknown as History)).toBe(false);
    expect(getToken()).toBeNull();
    expect(replaceState).not.toHaveBeenCalled();
  });

  it('remembers the page that asked for a session, once, and only a console page', () => {
    const at = (pathname: string, search = '', hash = '') => ({ pathname, search, hash });
    rememberReturnTo(at('/console/tasks/t-1', '?x=1', '#event-3'));
    expect(takeReturnTo()).toBe('/console/tasks/t-1?x=1#event-3');
    expect(takeReturnTo()).toBeNull(); // taken once
    for (const elsewhere of [at('//evil.example/console/'), at('/other/'), at('/console/signin'), at('/console/tasks', '', '#token=abc'), at('/console/a\\b')]) {
      rememberReturnTo(elsewhere);
      expect({ elsewhere, back: takeReturnTo() }).toEqual({ elsewhere, back: null });
    }
    // a value put in storage by other means is checked again when taken
    sessionStorage.setItem('agentplane.return-to', 'https://evil.example/');
    expect(takeReturnTo()).toBeNull();
    // signing out on purpose forgets it; a sign-out for a reason (a 401) keeps it
    rememberReturnTo(at('/console/hooks'));
    signOut('UNAUTHENTICATED: token expired');
    rememberReturnTo(at('/console/agents'));
    signOut();
    expect(takeReturnTo()).toBeNull();
    rememberReturnTo(at('/console/agents'));
    signOut('UNAUTHENTICATED: token expired');
    expect(takeReturnTo()).toBe('/console/agents');
  });

  it('a sign-out for a reason keeps the reason for the sign-in page', () => {
    sessionStorage.setItem('agentplane.token', 't');
    signOut('UNAUTHENTICATED: token expired');
    expect(getToken()).toBeNull();
    expect(signInReason()).toBe('UNAUTHENTICATED: token expired');
  });
});
