// A dispatcher finds a building by its address, opens it and reads residents' phones and ID
// numbers masked exactly as the API masks them for a dispatcher (never the numbers the grid's
// own worker reads), sees its QR code, and downloads the grid's QR sheet as a PDF.
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { assert, DEMO, signIn } from '../lib.mjs'

export const name = 'buildings'

const CODE = 'QSH-B0001'

export default async function ({ page, base, rest, shot }) {
  const mine = await rest.get(DEMO.dispatcher, `/api/v1/buildings/${CODE}`)
  assert.equal(mine.status, 200)
  assert.equal(mine.body.masked, true)
  const grid = mine.body.grid_code
  // What the grid's worker reads: the real numbers, which must never reach the dispatcher's page.
  const whole = await rest.get(DEMO.gridWorker, `/api/v1/buildings/${CODE}`)
  assert.equal(whole.body.masked, false)
  const secrets = whole.body.units.flatMap((u) => u.residents.flatMap((r) => [r.phone, r.id_number])).filter(Boolean)
  assert.ok(secrets.length > 0)

  await signIn(page, base, DEMO.dispatcher)
  await page.goto(`${base}/console/buildings`)
  await page.locator('[data-test=page-buildings][data-ready=true]').waitFor()

  // Search by (part of) the address: every row found holds the text.
  const text = mine.body.name
  await page.locator('[data-test=building-filters] input[name=q]').fill(text)
  const [found] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/buildings' && new URL(r.url()).searchParams.get('q') === text),
    page.locator('[data-test=building-search]').click(),
  ])
  assert.equal(found.status(), 200)
  const rows = page.locator('[data-test=building-table] .el-table__body-wrapper .el-table__row')
  const row = rows.filter({ hasText: CODE })
  await row.waitFor()
  for (const t of await rows.allInnerTexts()) assert.ok(t.includes(text), `a row without ${text}: ${t}`)

  await row.locator('[data-test=building-open]').click()
  const profile = page.locator(`[data-test=building-profile][data-code="${CODE}"]`)
  await profile.waitFor()
  await profile.locator('[data-test=masked-notice]').waitFor()
  await profile.locator('[data-test=resident-phone]').first().waitFor()
  const expect = (key) => mine.body.units.flatMap((u) => u.residents.map((r) => r[key] ?? '—'))
  assert.deepEqual(await profile.locator('[data-test=resident-phone]').allInnerTexts(), expect('phone'))
  assert.deepEqual(await profile.locator('[data-test=resident-id]').allInnerTexts(), expect('id_number'))
  const html = await page.content()
  for (const s of secrets) assert.ok(!html.includes(s), 'an unmasked number reached the page')
  // The building's code image, drawn.
  const qr = profile.locator('[data-test=building-qr]')
  await qr.waitFor()
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await qr.elementHandle())
  await shot('profile')
  await page.keyboard.press('Escape')
  await profile.waitFor({ state: 'hidden' })

  // The grid's QR sheet: a PDF with this building's code on it.
  await page.locator('[data-test=qr-sheet-grid]').click()
  await page.keyboard.type(grid)
  await page.locator('.el-select-dropdown__item:visible', { hasText: `（${grid}）` }).first().click()
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test=qr-sheet-download]').click()])
  assert.equal(download.suggestedFilename(), `${grid}-屋联码.pdf`, "the name the server gives")
  const path = await download.path()
  const pdf = await readFile(path)
  assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-')
  // The text is drawn in an embedded font subset, so it is read back as a viewer reads it
  // (poppler's pdftotext, installed by the test command): the code and its Chinese name.
  const printed = execFileSync('pdftotext', [path, '-'], { encoding: 'utf8' })
  assert.ok(printed.includes(CODE), `${CODE} is not on the sheet`)
  assert.ok(printed.includes(mine.body.name), `${mine.body.name} is not on the sheet`)
}
