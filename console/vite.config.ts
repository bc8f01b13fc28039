import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The console is served by the gridwing binary under /console/ (see api/src/console.rs), so
// every asset URL is built under that prefix. Element Plus components are imported where a
// template uses them, with their CSS, which keeps the bundle to what the pages use.
export default defineConfig({
  base: '/console/',
  plugins: [
    vue(),
    Components({
      resolvers: [ElementPlusResolver({ importStyle: 'css' })],
      dts: false,
    }),
  ],
  server: {
    // `npm run dev` against a local `gridwing serve --demo` (another address: GRIDWING_API=http://…).
    proxy: {
      '/api': { target: process.env.GRIDWING_API ?? 'http://127.0.0.1:8080', ws: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The binary serves one file per asset; a source map would be embedded for nothing.
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
})
