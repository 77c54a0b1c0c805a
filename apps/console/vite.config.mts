// nx build console: a static bundle in dist/apps/console, served by the command API under /console/.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  root,
  base: '/console/',
  plugins: [react()],
  resolve: {
    alias: {
      '@tm/contracts': `${repo}libs/contracts/src/index.ts`,
      '@tm/watch': `${repo}libs/watch/src/index.ts`,
      '@traffic-manager/client/errors': `${repo}libs/client/src/lib/errors.ts`,
    },
  },
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
