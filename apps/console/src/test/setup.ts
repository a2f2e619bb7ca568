import { afterEach } from 'vitest';
import { cleanup, configure } from '@testing-library/react';

// findBy…/waitFor wait up to 5 s, not 1: beside the other suites of `npm test`, a page mounted with its router took
// 2.5 s to show its first row once (the wait is a bound, not a delay: they answer as soon as it is there)
configure({ asyncUtilTimeout: 5_000 });

afterEach(() => {
  cleanup();
  sessionStorage.clear();
});
