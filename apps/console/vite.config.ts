import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Served by the gateway at /console (DESIGN §12); the dev server proxies the API to a local gateway.
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true },
  server: { proxy: { '/v1': process.env.GATEWAY_URL ?? 'http://127.0.0.1:3000' } },
  // a test may wait 5 s for what it looks for (setup.ts): a bound of its own above that
  test: { environment: 'jsdom', include: ['src/test/**/*.spec.tsx'], setupFiles: ['src/test/setup.ts'], testTimeout: 15_000 },
});
