import { rmSync } from 'node:fs';

export default async function teardown() {
  const state = globalThis.__AGENTPLANE_TEST_NATS__;
  if (!state) return;
  state.stopping = true;
  await state.dev.stop();
  rmSync(state.dir, { recursive: true, force: true });
}
