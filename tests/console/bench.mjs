// Figures of the console in headless Chromium against a running server, printed one a line:
//
//   node tests/console/bench.mjs --base http://127.0.0.1:18190 [--only NAME]
//
// Started by scripts/bench/console. Each file in bench/ is one figure: it exports `name`,
// `unit`, `goal` (text) and a default async function ({ browser, base, rest }) answering
// { value, detail }. Figures are measured, never judged: the goal is printed beside them.
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'
import { restClient } from './lib.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const base = arg('base')
const only = arg('only')
if (!base) {
  console.error('usage: node bench.mjs --base http://HOST:PORT [--only NAME]')
  process.exit(2)
}

const browser = await chromium.launch({
  executablePath: process.env.GRIDWING_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
const rest = restClient(base)
let failures = 0
for (const file of (await readdir(path.join(here, 'bench'))).filter((f) => f.endsWith('.mjs')).sort()) {
  const fig = await import(pathToFileURL(path.join(here, 'bench', file)).href)
  if (only && fig.name !== only) continue
  try {
    const { value, detail } = await fig.default({ browser, base, rest })
    console.log(`${fig.name.padEnd(28)} ${String(value).padStart(10)} ${fig.unit.padEnd(4)} (goal ${fig.goal})${detail ? `  ${detail}` : ''}`)
  } catch (e) {
    failures++
    console.log(`${fig.name.padEnd(28)} ${'failed'.padStart(10)}       ${String(e.message ?? e).split('\n')[0]}`)
  }
}
await browser.close()
process.exit(failures > 0 ? 1 : 0)
