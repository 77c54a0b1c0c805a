// nx build console: a static bundle in dist/apps/console, served by the command API under /console/.
// Development: `TM_DEV_COMMAND_API=http://127.0.0.1:3000 TM_DEV_RESOLVER=http://127.0.0.1:3001 npx vite
// --config apps/console/vite.config.mts` (or `vite preview` after a build) serves the console with both
// APIs behind its own origin (/v1 and /resolver), so no CORS is needed while developing.
import { defineConfig, type Plugin, type ProxyOptions } from 'vite';
import react from '@vitejs/plugin-react';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
const commandApi = process.env['TM_DEV_COMMAND_API'];
const resolver = process.env['TM_DEV_RESOLVER'];

/** Development only: the APIs behind this server, and the config.json the command API would serve. */
function devApis(): { plugin: Plugin; proxy: Record<string, ProxyOptions> } {
  const proxy: Record<string, ProxyOptions> = {};
  if (commandApi) proxy['/v1'] = { target: commandApi };
  if (resolver) proxy['/resolver'] = { target: resolver, rewrite: (path) => path.replace(/^\/resolver/, '') };
  const serveConfig = (server: { middlewares: { use(path: string, fn: (req: { headers: Record<string, string | string[] | undefined> }, res: { setHeader(n: string, v: string): void; end(b: string): void }) => void): unknown } }): void => {
    server.middlewares.use('/console/config.json', (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ commandApiUrl: null, resolverUrl: resolver ? `http://${String(req.headers['host'])}/resolver` : null }));
    });
  };
  return { plugin: { name: 'tm-dev-apis', configureServer: serveConfig, configurePreviewServer: serveConfig }, proxy };
}

const dev = devApis();

/**
 * Beside every text file of the bundle, its gzip and brotli forms (`.gz`, `.br`): the command API
 * serves them to browsers that accept them (@fastify/static's preCompressed), so the first load
 * travels compressed without compressing on every request.
 */
function precompressed(): Plugin {
  return {
    name: 'tm-precompressed',
    apply: 'build',
    writeBundle(options, bundle) {
      for (const file of Object.keys(bundle)) {
        if (!/\.(js|css|html|svg|json)$/.test(file)) continue;
        const path = join(options.dir as string, file);
        const content = readFileSync(path);
        writeFileSync(`${path}.gz`, gzipSync(content, { level: 9 }));
        writeFileSync(`${path}.br`, brotliCompressSync(content, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }));
      }
    },
  };
}

export default defineConfig({
  root,
  base: '/console/',
  plugins: [react(), dev.plugin, precompressed()],
  resolve: {
    alias: {
      '@tm/contracts': `${repo}libs/contracts/src/index.ts`,
      '@tm/watch': `${repo}libs/watch/src/index.ts`,
      '@traffic-manager/client/errors': `${repo}libs/client/src/lib/errors.ts`,
    },
  },
  server: { proxy: dev.proxy, port: 5173, strictPort: false },
  preview: { proxy: dev.proxy, port: 4173, strictPort: false },
  build: {
    outDir: `${repo}dist/apps/console`,
    emptyOutDir: true,
    // No inline scripts or data: URLs in the HTML (the CSP allows scripts from 'self' only).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
    reportCompressedSize: false,
  },
});
