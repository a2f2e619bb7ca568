import { defineConfig } from '@playwright/test';

// Debian's Chromium (apt-get install chromium), never a downloaded browser; these flags keep it off the network.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export default defineConfig({
  testDir: '../src/test/e2e',
  testMatch: '*.e2e.ts',
  outputDir: '../test-results',
  globalSetup: './global-setup.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 45_000,
  expect: { timeout: 10_000 },
  // 23 specs take 2.2–2.8 min here; 170 s was hit once on a slow minute with 14 of them done
  globalTimeout: 240_000,
  reporter: [['list'], ['json', { outputFile: '../tmp/playwright.json' }]],
  use: {
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS },
  },
});
