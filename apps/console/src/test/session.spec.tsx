import { describe, expect, it, vi } from 'vitest';
import { adoptTokenFromFragment, getToken, signInReason, signOut } from '../api/session.js';

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

  it('a sign-out for a reason keeps the reason for the sign-in page', () => {
    sessionStorage.setItem('agentplane.token', 't');
    signOut('UNAUTHENTICATED: token expired');
    expect(getToken()).toBeNull();
    expect(signInReason()).toBe('UNAUTHENTICATED: token expired');
  });
});
