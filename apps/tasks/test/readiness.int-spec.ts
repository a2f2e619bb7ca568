import { describeServiceStartsAlone } from '@agentplane/testing';
import { loadConfig, SERVICE } from '../src/config.js';
import { AppModule } from '../src/app.module.js';
import { MIGRATIONS } from './setup.js';

describeServiceStartsAlone({ service: SERVICE, migrationsDir: MIGRATIONS, module: (env) => AppModule.forRoot(loadConfig(env)) });
