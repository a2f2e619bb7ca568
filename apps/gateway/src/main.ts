import 'reflect-metadata';
import { SwaggerModule } from '@nestjs/swagger';
import { runMain, startService } from '@agentplane/messaging';
import { loadConfig, SERVICE } from './config.js';
import { AppModule } from './app.module.js';
import { OpenApiBuilder } from './http/openapi.js';
import { serveConsole } from './http/console-static.js';

runMain(SERVICE, async () => {
  const config = loadConfig();
  await startService(AppModule.forRoot(config), {
    service: SERVICE,
    http: config.http,
    beforeListen: async (app) => {
      const document = app.get(OpenApiBuilder).build();
      SwaggerModule.setup('docs', app, document as never, { jsonDocumentUrl: 'docs-json' });
      await serveConsole(app, config.consoleDir, (msg) => console.log(msg));
    },
  });
  console.log(`gateway listening on http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`);
});
