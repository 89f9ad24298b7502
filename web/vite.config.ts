import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// `npm run dev` proxies the API and media to a `lectern serve` on 127.0.0.1:8080.
const backend = 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [vue()],
  build: { target: 'es2022', chunkSizeWarningLimit: 1200 },
  server: {
    proxy: { '/api': backend, '/play': backend, '/media': backend },
  },
});
