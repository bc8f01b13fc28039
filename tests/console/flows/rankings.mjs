// 晾晒比拼: a report in QSH-G001 closed and rated gives the grid figures; the rankings page shows
// the API's first rows, rank, code and the counts behind the rates, for grids by on-time rate
// (the default) and, after switching level and sort, for communities by closure rate; the
// communities' table downloads as CSV (the API's rows, in order) and PDF, under the server's names.
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { assert, DEMO, signIn, until } from '../lib.mjs'

export const name = 'rankings'

function pct(rate, n, d) {
  return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%（${n}/${d}）`
}

async function firstRows(page, n) {
  const rows = page.locator('[data-test=rankings] .el-table__body tr')
  const out = []
  for (let i = 0; i < n; i++) {
    const r = rows.nth(i)
    out.push({
      rank: (await r.locator('[data-test=rank]').innerText()).trim(),
      code: (await r.locator('[data-test=rank-code]').innerText()).trim(),
      onTime: (await r.locator('[data-test=rank-on-time]').innerText()).trim(),
      closure: (await r.locator('[data-test=rank-closure]').innerText()).trim(),
    })
  }
  return out
}

function expected(body, n) {
  return body.rows.slice(0, n).map((r) => ({
    rank: `${r.rank}`,
    code: r.code,
    onTime: pct(r.on_time_rate, r.task_steps_on_time, r.task_steps),
    closure: pct(r.closure_rate, r.events_closed, r.events_received),
  }))
}

export default async function ({ page, base, rest, shot }) {
  const report = await rest.post(
    DEMO.citizen,
    '/api/v1/events',
    { category: 'environment.garbage', description: '楼道堆放杂物（排名）', building_code: 'QSH-B0001' },
    { 'idempotency-key': `rankings-${Date.now()}` },
  )
  assert.equal(report.status, 201, JSON.stringify(report.body))
  const id = report.body.id
  for (const [who, body] of [
    [DEMO.gridWorker, { move: 'sign' }],
    [DEMO.gridWorker, { move: 'arrive' }],
    [DEMO.gridWorker, { move: 'handle', feedback: '已清理' }],
    [DEMO.dispatcher, { move: 'complete' }],
    [DEMO.citizen, { move: 'evaluate', rating: 5 }],
  ]) {
    const moved = await rest.post(who, `/api/v1/events/${id}/moves`, body)
    assert.equal(moved.status, 200, `${JSON.stringify(body)}: ${JSON.stringify(moved.body)}`)
  }

  await signIn(page, base, DEMO.dispatcher)
  await page.goto(`${base}/console/rankings`)
  await page.locator('[data-test=page-rankings][data-ready=true]').waitFor()
  await page.locator('[data-test=rankings] [data-test=rank]').first().waitFor()
  const grids = await rest.get(DEMO.dispatcher, '/api/v1/rankings')
  assert.equal(grids.status, 200, JSON.stringify(grids.body))
  assert.equal(grids.body.sort, 'on_time_rate')
  const g001 = grids.body.rows.find((r) => r.code === 'QSH-G001')
  assert.ok(g001 && g001.events_closed >= 1 && g001.ratings >= 1, JSON.stringify(g001))
  assert.deepEqual(await firstRows(page, 3), expected(grids.body, 3))
  await shot('grids')

  await page.locator('[data-test=rank-level] .el-radio-button').getByText('社区', { exact: true }).click()
  await page.locator('[data-test=rank-sort]').click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: '办结率排名' }).click()
  const communities = await rest.get(DEMO.dispatcher, '/api/v1/rankings?level=community&sort=closure_rate')
  assert.equal(communities.status, 200, JSON.stringify(communities.body))
  const want = expected(communities.body, 2)
  assert.equal(want[0].rank, '1')
  assert.notEqual(want[0].closure, '—', 'a community with a closed event ranks first')
  await until(async () => JSON.stringify(await firstRows(page, 2)) === JSON.stringify(want), 'the communities by closure rate')
  await shot('communities')

  const { from, to } = communities.body
  const [csv] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test=rank-export-csv]').click()])
  assert.equal(csv.suggestedFilename(), `社区排名_${from}_${to}.csv`)
  const lines = (await readFile(await csv.path(), 'utf8')).replace(/^\uFEFF/, '').trim().split('\r\n')
  assert.deepEqual(
    lines.slice(1).map((l) => l.split(',')[1]),
    communities.body.rows.map((r) => r.code),
  )
  const [pdf] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test=rank-export-pdf]').click()])
  assert.equal(pdf.suggestedFilename(), `社区排名_${from}_${to}.pdf`)
  // Without white space: a paragraph wraps where the page ends.
  const printed = execFileSync('pdftotext', [await pdf.path(), '-'], { encoding: 'utf8' }).replace(/\s+/g, '')
  assert.ok(printed.includes('社区排名（晾晒比拼）') && printed.includes('排序依据：办结率(%)'), printed)
}
