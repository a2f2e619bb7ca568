// Writes the brotli (.br) and gzip (.gz) forms of each text file of the console's build beside it, which the gateway
// serves to a browser that accepts them (@fastify/static `preCompressed`). The bundle is about 400 KB as it is and
// about a quarter of that compressed; doing it once at build time costs a request nothing.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = join(import.meta.dirname, '..', 'dist');
const TEXT = new Set(['.html', '.js', '.css', '.svg', '.json', '.map', '.txt']);
// below this a compressed form saves less than its headers cost
const MIN_BYTES = 1024;

let files = 0;
let before = 0;
let after = 0;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (TEXT.has(extname(name)) && statSync(path).size >= MIN_BYTES) {
      const raw = readFileSync(path);
      const br = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
      writeFileSync(`${path}.br`, br);
      writeFileSync(`${path}.gz`, gzipSync(raw, { level: 9 }));
      files++;
      before += raw.length;
      after += br.length;
    }
  }
}
walk(dist);
console.log(`precompress: ${files} files, ${Math.round(before / 1024)} KB → ${Math.round(after / 1024)} KB brotli`);
