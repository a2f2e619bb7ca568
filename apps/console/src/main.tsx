import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from '@tanstack/react-router';
import { adoptTokenFromFragment } from './api/session.js';
import { queryClient, router } from './router.js';
import './styles.css';

// `npm start` hands over a development token in the fragment (never a query string): keep it, clear the address bar.
adoptTokenFromFragment();
// such a link opened in a tab already on that page changes only the fragment: the page does not load again, so take
// the token now and start afresh under it (no answer cached for the previous token is shown under the new one)
window.addEventListener('hashchange', () => {
  if (adoptTokenFromFragment()) window.location.reload();
});

const rootEl = document.getElementById('root');
if (!rootEl) throw new Error('#root is missing from index.html');
createRoot(rootEl).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
