// 五色网格 on the map: a citizen's report lands in QSH-G001, an admin recomputes the grids' health
// (POST /api/v1/grid-health/recompute answers once done), and the grid's panel (opened with
// ?grid=QSH-G001) shows the colour, the score, the response level and the contributions the API
// gives, among them the line counting the grid's events.
import { assert, DEMO, signIn } from '../lib.mjs'

export const name = 'grid-health'

export default async function ({ page, base, rest, shot }) {
  const report = await rest.post(
    DEMO.citizen,
    '/api/v1/events',
    { category: 'environment.garbage', description: '楼道堆放杂物（健康度）', building_code: 'QSH-B0001' },
    { 'idempotency-key': `grid-health-${Date.now()}` },
  )
  assert.equal(report.status, 201, JSON.stringify(report.body))
  assert.equal(report.body.grid_code, 'QSH-G001')
  const done = await rest.post(DEMO.admin, '/api/v1/grid-health/recompute')
  assert.equal(done.status, 200, JSON.stringify(done.body))
  assert.ok(done.body.grids >= 118, `every demo grid recomputed: ${JSON.stringify(done.body)}`)

  await signIn(page, base, DEMO.dispatcher)
  await page.goto(`${base}/console/map?grid=QSH-G001`)
  await page.locator('[data-test=page-map][data-ready=true]').waitFor()
  const panel = page.locator('[data-test=grid-panel]')
  await panel.locator('[data-test=grid-contributions]').waitFor()

  // The figures the page shows are the API's (read after the page, so nothing changed between).
  const health = await rest.get(DEMO.dispatcher, '/api/v1/areas/QSH-G001/health')
  assert.equal(health.status, 200, JSON.stringify(health.body))
  const events = health.body.contributions.find((c) => c.kind === 'events')
  assert.ok(events, `an events line among ${JSON.stringify(health.body.contributions)}`)
  assert.match(events.label, /^(蓝|黄|橙|红)色事件 \d+ 件：\d+ 分$/)

  const colour = panel.locator('[data-test=grid-health-colour]')
  assert.equal((await colour.innerText()).trim(), health.body.colour_zh)
  assert.equal(await panel.locator(`[data-colour]`).getAttribute('data-colour'), health.body.colour)
  assert.equal((await panel.locator('[data-test=grid-health-score]').innerText()).trim(), `${health.body.score} 分`)
  const lines = await panel.locator('[data-test=grid-contributions] li').allInnerTexts()
  assert.deepEqual(
    lines.map((l) => l.trim()),
    health.body.contributions.map((c) => c.label),
  )
  assert.ok(lines.includes(events.label))
  const response = await panel.locator('[data-test=grid-response]').innerText()
  assert.ok(response.includes(`建议配置 ${health.body.response.staffing} 人`), response)
  await shot('grid-health')
}
