import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The API server `make run` starts; `npm run dev` proxies to it.
const api = process.env.JOBGRAPH_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [
    react(),
    {
      // web/dist/.gitkeep is committed so that go:embed finds the folder in a
      // fresh checkout; the build empties dist, so put it back.
      name: 'keep-dist',
      closeBundle() {
        writeFileSync(resolve(import.meta.dirname, 'dist/.gitkeep'), '');
      },
    },
  ],
  build: { outDir: 'dist', sourcemap: false },
  server: {
    proxy: {
      '/graphql': { target: api, ws: true, changeOrigin: false },
      '/runs': { target: api },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
