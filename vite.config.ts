import path from 'node:path';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

// The web app lives in web/, its static assets in public/, and the build goes to
// dist/web, which the relay serves at `/`.
export default defineConfig({
  root: 'web',
  publicDir: '../public',
  plugins: [
    svelte(),
    VitePWA({
      // Our own service worker (web/src/sw.ts): the share target will be handled there.
      strategies: 'injectManifest',
      srcDir: 'src',
      filename: 'sw.ts',
      registerType: 'prompt',
      injectRegister: false,
      injectManifest: {
        globPatterns: ['**/*.{js,css,html,svg,png}'],
        buildPlugins: {
          vite: [
            {
              // The plugin asks for one file with rollup's `inlineDynamicImports`, which Vite 8
              // calls `codeSplitting: false` (and warns about on every first build).
              name: 'ferry-sw-one-file',
              config(config) {
                const output = config.build?.rollupOptions?.output;
                if (output && !Array.isArray(output) && 'inlineDynamicImports' in output) {
                  delete output.inlineDynamicImports;
                  (output as Record<string, unknown>).codeSplitting = false;
                }
              },
            },
          ],
        },
      },
      manifest: {
        name: 'Ferry',
        short_name: 'Ferry',
        description: 'Move large files between your devices, verified and resumable, with every version kept.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        theme_color: '#1d4ed8',
        background_color: '#f7f7f8',
        share_target: {
          action: '/share',
          method: 'POST',
          enctype: 'multipart/form-data',
          params: { files: [{ name: 'files', accept: ['*/*'] }] },
        },
        icons: [
          { src: '/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
    }),
  ],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    rollupOptions: {
      // The app, and the script of encrypted share links' pages, which the relay serves at
      // a fixed address (relay/links/link-http.ts: E2E_LINK_SCRIPT).
      input: {
        index: path.join(import.meta.dirname, 'web/index.html'),
        'link-e2e': path.join(import.meta.dirname, 'web/src/link/e2e-link.ts'),
      },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'link-e2e' ? 'link-e2e.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  worker: { format: 'es' },
  server: {
    proxy: { '/ws': { target: 'ws://127.0.0.1:8080', ws: true } },
  },
});
