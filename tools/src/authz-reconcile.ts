import { reconcileCli } from './reconcile.js';

process.exitCode = await reconcileCli(process.argv.slice(2), {
  out: (l) => console.log(l),
  err: (l) => console.error(l),
  env: process.env,
});
