// 月度研判: a closed, rated report in QSH-G001 this month; the dispatcher generates the grid's
// review of this month from the reports page and sees its figures as the API counts them; the
// grid worker writes the assessment and submits it (REST, as from the phone); the dispatcher
// finds it among the submitted, reads the assessment, comments, marks it read, and downloads it
// as a PDF (read back with pdftotext) and CSV whose names and contents are the server's.
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { assert, DEMO, signIn } from '../lib.mjs'

export const name = 'reports'

const GRID = 'QSH-G001'

/** This month in Asia/Shanghai, `YYYY-MM`. */
function thisMonth() {
  return new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 7)
}

/** Types `month` into the month picker inside `[data-test=test]`. */
async function pickMonth(page, test, month) {
  const input = page.locator(`[data-test=${test}] input`)
  await input.click()
  await input.fill(month)
  await input.press('Enter')
  // Leaves the picker (Escape would close the dialog it may be in).
  await input.press('Tab')
}

export default async function ({ page, base, rest, shot }) {
  const month = thisMonth()
  const report = await rest.post(
    DEMO.citizen,
    '/api/v1/events',
    { category: 'environment.garbage', description: '楼道堆放杂物（研判）', building_code: 'QSH-B0001' },
    { 'idempotency-key': `reports-${Date.now()}` },
  )
  assert.equal(report.status, 201, JSON.stringify(report.body))
  for (const [who, body] of [
    [DEMO.gridWorker, { move: 'sign' }],
    [DEMO.gridWorker, { move: 'arrive' }],
    [DEMO.gridWorker, { move: 'handle', feedback: '已清理' }],
    [DEMO.dispatcher, { move: 'complete' }],
    [DEMO.citizen, { move: 'evaluate', rating: 4 }],
  ]) {
    const moved = await rest.post(who, `/api/v1/events/${report.body.id}/moves`, body)
    assert.equal(moved.status, 200, `${JSON.stringify(body)}: ${JSON.stringify(moved.body)}`)
  }

  await signIn(page, base, DEMO.dispatcher)
  await page.goto(`${base}/console/reports`)
  await page.locator('[data-test=page-reports][data-ready=true]').waitFor()
  await pickMonth(page, 'reports-month', month)

  // Generated on demand from the dialog: the drawer opens on it.
  await page.locator('[data-test=reports-generate]').click()
  await page.locator('[data-test=generate-area]').click()
  await page.keyboard.type(GRID)
  await page.locator('.el-select-dropdown__item:visible', { hasText: `（${GRID}）` }).first().click()
  await pickMonth(page, 'generate-month', month)
  await page.locator('[data-test=generate-submit]').click()
  const drawer = page.locator('[data-test=review-detail]')
  await drawer.waitFor()
  const id = await drawer.getAttribute('data-id')
  const made = await rest.get(DEMO.dispatcher, `/api/v1/reviews/${id}`)
  assert.equal(made.status, 200, JSON.stringify(made.body))
  assert.deepEqual([made.body.review.area_code, made.body.review.month, made.body.review.status], [GRID, month, 'draft'])
  assert.ok(made.body.figures.events.total >= 1, JSON.stringify(made.body.figures.events))
  assert.equal((await drawer.locator('[data-test=review-events]').innerText()).trim(), `${made.body.figures.events.total}`)
  assert.equal((await drawer.locator('[data-test=review-detail-status]').innerText()).trim(), '草稿')
  await page.keyboard.press('Escape')
  await drawer.waitFor({ state: 'hidden' })

  // The grid's worker writes the assessment and submits it.
  const words = `本月${GRID}楼道堆放问题已清理，建议物业加强巡查。`
  const wrote = await rest.put(DEMO.gridWorker, `/api/v1/reviews/${id}/assessment`, { assessment: words })
  assert.equal(wrote.status, 200, JSON.stringify(wrote.body))
  const sent = await rest.post(DEMO.gridWorker, `/api/v1/reviews/${id}/submit`)
  assert.equal(sent.status, 200, JSON.stringify(sent.body))

  // Among the submitted: opened, commented, marked read.
  await page.locator('[data-test=reports-status]').click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: '已报送' }).click()
  const row = page.locator('[data-test=reviews] .el-table__body tr', { hasText: GRID }).first()
  await row.locator('[data-test=review-status]', { hasText: '已报送' }).waitFor()
  await row.locator('[data-test=review-open]').click()
  await drawer.waitFor()
  assert.equal(await drawer.getAttribute('data-id'), id)
  assert.equal((await drawer.locator('[data-test=review-assessment]').innerText()).trim(), words)
  await drawer.locator('[data-test=review-chart-colour] canvas').waitFor()
  const said = '请补充整改时限。'
  await drawer.locator('[data-test=review-comment-input] textarea').fill(said)
  await drawer.locator('[data-test=review-comment-submit]').click()
  await drawer.locator('[data-test=review-comment]', { hasText: said }).waitFor()
  await drawer.locator('[data-test=review-mark-read]').click()
  await drawer.locator('[data-test=review-read-by]', { hasText: '指挥中心值班员' }).waitFor()
  const seen = await rest.get(DEMO.dispatcher, `/api/v1/reviews/${id}`)
  assert.equal(seen.body.review.read_by?.name, '指挥中心值班员')
  assert.deepEqual(
    seen.body.comments.map((c) => [c.author.name, c.body]),
    [['指挥中心值班员', said]],
  )
  await row.locator('[data-test=review-row-read]').waitFor()
  await shot('review')

  // The files, under the server's names.
  const [pdf] = await Promise.all([page.waitForEvent('download'), drawer.locator('[data-test=review-download-pdf]').click()])
  assert.equal(pdf.suggestedFilename(), `${GRID}_${month}_月度研判报告_v1.pdf`)
  const printed = execFileSync('pdftotext', [await pdf.path(), '-'], { encoding: 'utf8' }).replace(/\s+/g, '')
  for (const needle of ['月度研判报告', words, said, '指挥中心值班员']) {
    assert.ok(printed.includes(needle), `${needle} is not in the PDF`)
  }
  const [csv] = await Promise.all([page.waitForEvent('download'), drawer.locator('[data-test=review-download-csv]').click()])
  assert.equal(csv.suggestedFilename(), `${GRID}_${month}_月度研判报告_v1.csv`)
  const lines = (await readFile(await csv.path(), 'utf8')).replace(/^\uFEFF/, '').split('\r\n')
  assert.equal(lines[0], '板块,项目,本月,上月')
  assert.ok(lines.includes(`事件,受理事件数,${made.body.figures.events.total},${made.body.figures.comparison.previous.events}`), lines.join('\n'))
}
