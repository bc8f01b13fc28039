// Runs every browser flow of the console against one gridwing server, in one Chromium.
//
//   node tests/console/run.mjs --base http://127.0.0.1:8080 --artifacts target/console-artifacts [--only NAME]
//
// Started by the e2e test `console::flows_in_a_real_browser`, which starts the server (demo
// street, short-lived access tokens) on SQLite or PostgreSQL+Redis like every e2e test.
// Each file in flows/ is one flow, run in a fresh browser context (no cookies or storage from
// another flow) with its own page; each saves a screenshot named after it, pass or fail. A
// flow fails on a failed assertion, a wait that times out, or an uncaught error in the page.
// The last line says how many passed and failed; the exit code is 1 when any failed.
import { readdir } from 'node:fs/promises'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'
import { restClient } from './lib.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback
}

const base = option('base', process.env.GRIDWING_BASE)
const artifacts = path.resolve(option('artifacts', path.join(here, '..', '..', 'target', 'console-artifacts')))
const only = option('only', process.env.CONSOLE_FLOW)
const executablePath = process.env.GRIDWING_CHROMIUM ?? '/usr/bin/chromium'
// A flow that takes longer has hung on something; its waits use Playwright's own timeouts.
const FLOW_TIMEOUT_MS = Number(process.env.CONSOLE_FLOW_TIMEOUT_MS ?? 60_000)

if (!base) {
  console.error('usage: node run.mjs --base http://HOST:PORT [--artifacts DIR] [--only NAME]')
  process.exit(2)
}

const files = (await readdir(path.join(here, 'flows'))).filter((f) => f.endsWith('.mjs')).sort()
const flows = []
for (const file of files) {
  const mod = await import(pathToFileURL(path.join(here, 'flows', file)).href)
  const name = mod.name ?? file.replace(/\.mjs$/, '')
  if (typeof mod.default !== 'function') throw new Error(`flows/${file} has no default export`)
  if (!only || name === only || file === only) flows.push({ name, file, run: mod.default, viewport: mod.viewport })
}
if (flows.length === 0) {
  console.error(only ? `no flow named ${only}` : 'no flows in flows/')
  process.exit(2)
}

await mkdir(artifacts, { recursive: true })
const browser = await chromium.launch({
  executablePath,
  headless: true,
  // What works in this sandbox and in CI (root, no GPU, no network beyond the server).
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
})

const rest = restClient(base)
let passed = 0
let failed = 0
for (const flow of flows) {
  const started = Date.now()
  const context = await browser.newContext({
    viewport: flow.viewport ?? { width: 1366, height: 768 },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
  })
  context.setDefaultTimeout(15_000)
  const pageErrors = []
  const watch = (page) => page.on('pageerror', (e) => pageErrors.push(e))
  context.on('page', watch)
  const page = await context.newPage()
  // A screenshot named after the flow (and `suffix`), of `on` or else the flow's page.
  const shot = (suffix = '', on = page) =>
    on.screenshot({ path: path.join(artifacts, `${flow.name}${suffix ? `-${suffix}` : ''}.png`), fullPage: true })
  let error = null
  let timer
  try {
    await Promise.race([
      flow.run({ page, context, browser, base, rest, shot, artifacts }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`flow still running after ${FLOW_TIMEOUT_MS} ms`)), FLOW_TIMEOUT_MS)
      }),
    ])
    if (pageErrors.length > 0) throw new Error(`uncaught error in the page: ${pageErrors.map(String).join('; ')}`)
  } catch (e) {
    error = e
  } finally {
    clearTimeout(timer)
  }
  try {
    await shot()
  } catch (e) {
    console.log(`# ${flow.name}: no screenshot (${e.message})`)
  }
  await context.close()
  const ms = Date.now() - started
  if (error) {
    failed++
    console.log(`not ok - ${flow.name} (${ms} ms)`)
    console.log(String(error.stack ?? error).split('\n').map((l) => `#   ${l}`).join('\n'))
  } else {
    passed++
    console.log(`ok - ${flow.name} (${ms} ms)`)
  }
}
await browser.close()
console.log(`# screenshots in ${artifacts}`)
console.log(`flows: ${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
