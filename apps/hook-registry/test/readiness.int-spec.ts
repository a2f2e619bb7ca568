import { fileURLToPath } from 'node:url';
import { describeServiceStartsAlone } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';

describeServiceStartsAlone({
  service: SERVICE,
  migrationsDir: fileURLToPath(new URL('../../../prisma/hook-registry/migrations', import.meta.url)),
  module: (env) => AppModule.forRoot(loadConfig(env)),
});
