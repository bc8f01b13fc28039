// (a) A dispatcher at the dispatch desk and the map: a citizen's report posted over REST shows
// on both within a second, without a reload; the dispatcher dispatches it to a grid in the
// page, and the grid worker's sign, made over REST, shows on the desk live.
import { assert, DEMO, signIn } from '../lib.mjs'

export const name = 'dispatch-live'

// Just north of the demo street, outside every grid: such a report is not routed to a grid by
// itself (api/src/events/intake.rs) but waits in the dispatchers' queue.
const OUTSIDE = { lat: 30.2745, lng: 119.7 }

export default async function ({ page: desk, context, base, rest, shot }) {
  let reloads = 0
  const counted = (page) => page.on('framenavigated', (f) => f === page.mainFrame() && reloads++)

  await signIn(desk, base, DEMO.dispatcher)
  await desk.goto(`${base}/console/dispatch`)
  await desk.locator('[data-test=page-dispatch][data-ready=true]').waitFor()
  await desk.locator('[data-test=live-state]').getByText('实时连接').waitFor()

  const map = await context.newPage()
  await signIn(map, base, DEMO.dispatcher)
  await map.goto(`${base}/console/map`)
  await map.locator('[data-test=page-map][data-ready=true]').waitFor()
  await map.locator('[data-test=live-state]').getByText('实时连接').waitFor()
  const before = Number((await map.locator('[data-test=map-count]').innerText()).match(/\d+/)?.[0])
  counted(desk)
  counted(map)

  // Orange: its deadlines are minutes away, so the page's countdown moves every second.
  const description = `消防通道堵塞 ${crypto.randomUUID().slice(0, 8)}`
  const res = await rest.post(
    DEMO.citizen,
    '/api/v1/events',
    { category: 'safety.hazard', description, ...OUTSIDE },
    { 'idempotency-key': crypto.randomUUID() },
  )
  assert.equal(res.status, 201, JSON.stringify(res.body))
  const id = res.body.id
  assert.equal(res.body.status, 'reported')

  // Both pages show it within a second of the POST's answer: the desk as a row, the map as one
  // more point drawn (its count comes from the points it draws) and in its live list.
  const row = desk.locator('tr', { has: desk.locator(`[data-event="${id}"]`) })
  await Promise.all([
    row.getByText('待受理').waitFor({ timeout: 1000 }),
    map.locator(`[data-test=map-recent] [data-event="${id}"]`).waitFor({ timeout: 1000 }),
    map.locator('[data-test=map-count]').getByText(`在办事件 ${before + 1} 件`).waitFor({ timeout: 1000 }),
  ])
  await desk.locator('[data-test=new-badge]').getByText('1').waitFor()
  await shot('arrived', desk)
  await shot('arrived-map', map)

  // Dispatch it in the page, to the demo grid worker's grid, picked from the street's grids.
  await row.locator('[data-test=act-dispatch]').click()
  const dialog = desk.locator('[data-test=move-dialog]')
  await dialog.locator('[data-test=move-assignee]').click()
  await desk.keyboard.type('QSH-G001')
  await desk.locator('.el-select-dropdown__item', { hasText: '（QSH-G001）' }).click()
  await dialog.getByText('青山村第1网格（QSH-G001）').waitFor()
  const [moved] = await Promise.all([
    desk.waitForResponse((r) => r.url().endsWith(`/api/v1/events/${id}/moves`) && r.request().method() === 'POST'),
    dialog.locator('[data-test=move-submit]').click(),
  ])
  assert.equal(moved.status(), 200)
  const after = await moved.json()
  assert.deepEqual([after.status, after.task?.assignee_kind, after.task?.assignee_code], ['dispatched', 'grid', 'QSH-G001'])
  await row.getByText('已派遣').waitFor()
  await row.getByText('网格 QSH-G001').waitFor()

  // The grid worker signs on their phone (REST); the desk shows it without a reload.
  const sign = await rest.post(DEMO.gridWorker, `/api/v1/events/${id}/moves`, { move: 'sign' })
  assert.equal(sign.status, 200, JSON.stringify(sign.body))
  await row.getByText('已签收').waitFor()
  assert.equal(reloads, 0, 'a page reloaded')
  await shot('signed', desk)

  // Its page: who holds it, the deadlines still to meet counting down, and the timeline.
  await row.locator(`[data-event="${id}"]`).click()
  const detail = desk.locator('[data-test=page-event][data-ready=true]')
  await detail.waitFor()
  await detail.locator('[data-test=holder]').getByText('青山村第1网格（QSH-G001）').waitFor()
  const timeline = detail.locator('[data-test=timeline]')
  for (const step of ['上报', '派遣', '签收']) await timeline.getByText(step, { exact: true }).waitFor()
  const countdown = detail.locator('[data-test=countdown]').filter({ hasText: '剩余' }).first()
  const first = await countdown.innerText()
  await desk.waitForFunction(
    ([text]) => [...document.querySelectorAll('[data-test=countdown]')].every((el) => el.textContent !== text),
    [first],
  )
}
