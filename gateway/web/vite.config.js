// Vite builds the client into dist/, which the gateway serves (gateway/nginx.conf.tmpl).
// `npm run dev` serves it with hot reload and proxies /api to a gateway (FLOWSTATE_GATEWAY,
// default http://127.0.0.1:8080, as started by scripts/up).
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const gateway = process.env.FLOWSTATE_GATEWAY || 'http://127.0.0.1:8080';

export default defineConfig({
	plugins: [react()],
	build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1200 },
	server: { proxy: { '/api': { target: gateway, ws: true } } },
	test: { environment: 'node', include: ['src/**/*.test.js'] },
});
