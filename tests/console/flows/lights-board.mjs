// 亮灯督办: a dispatcher sees the late tasks the sweeper lit, latest-overdue first (a yellow task
// two minutes past its deadline before a red one just past two), each with its escalations and
// who was mailed as the API records them; the red filter leaves only the red one; and a task the
// command centre closes leaves the board live, without a reload.
// The two lit tasks are made by the test that runs the flows (tests/e2e/console.rs), which ages
// their deadlines and runs the sweeper: GRIDWING_FLOW_LIT="RED_EVENT,YELLOW_EVENT".
import { assert, DEMO, signIn } from '../lib.mjs'

export const name = 'lights-board'

/** Seconds of a 已超时 cell: "2 分 5 秒", "1 小时 3 分", "45 秒". */
async function lateOf(row) {
  const text = await row.locator('[data-test=late]').innerText()
  const unit = { 天: 86400, 小时: 3600, 分: 60, 秒: 1 }
  const parts = [...text.matchAll(/(\d+) (天|小时|分|秒)/g)]
  assert.ok(parts.length > 0, `a lateness: ${text}`)
  return parts.reduce((s, [, n, u]) => s + Number(n) * unit[u], 0)
}

export default async function ({ page, base, rest, shot }) {
  const [red, yellow] = (process.env.GRIDWING_FLOW_LIT ?? '').split(',')
  assert.ok(red && yellow, 'GRIDWING_FLOW_LIT names the red and the yellow event')
  const escalations = {}
  for (const id of [red, yellow]) {
    const res = await rest.get(DEMO.dispatcher, `/api/v1/events/${id}/escalations`)
    assert.equal(res.status, 200)
    escalations[id] = res.body
  }
  assert.equal(escalations[red].length, 2)
  assert.equal(escalations[yellow].length, 1)
  const mailed = escalations[red][0].mailed
  assert.ok(mailed.length > 0 && mailed[0].email, 'the demo street has a supervisor to mail')

  await signIn(page, base, DEMO.dispatcher)
  await page.goto(`${base}/console/lights`)
  await page.locator('[data-test=page-lights][data-ready=true]').waitFor()
  const board = page.locator('[data-test=lights]')
  const rowOf = (id) => board.locator('.el-table__body-wrapper .el-table__row').filter({ has: page.locator(`a[data-event="${id}"]`) })
  await rowOf(red).waitFor()
  await rowOf(yellow).waitFor()

  // Latest-overdue first: the yellow task is two minutes late, the red one seconds.
  const order = await board
    .locator('.el-table__body-wrapper .el-table__row a[data-event]')
    .evaluateAll((links) => links.map((a) => a.getAttribute('data-event')))
  assert.ok(order.indexOf(yellow) < order.indexOf(red), `yellow (2 min late) before red: ${order}`)
  // Their lateness as shown (ticking, so read together) differs by the two minutes between them.
  const [late, alsoLate] = [await lateOf(rowOf(yellow)), await lateOf(rowOf(red))]
  assert.ok(Math.abs(late - alsoLate - 115) <= 5, `yellow ${late} s late, red ${alsoLate} s`)

  // Each light's escalation, with who was mailed by name and address.
  const redRow = rowOf(red)
  await redRow.locator('[data-test=escalations] li').nth(1).waitFor()
  const items = await redRow.locator('[data-test=escalations] li').allInnerTexts()
  assert.equal(items.length, 2, items.join(' | '))
  assert.match(items[0], /黄灯/)
  assert.match(items[1], /红灯/)
  for (const m of mailed) assert.ok(items[1].includes(`${m.name}（${m.email}）`), `${m.name} mailed: ${items[1]}`)
  assert.match(items[1], new RegExp(`升级至 ${escalations[red][1].escalated_to}`))
  await shot('board')

  // The red filter leaves the red task only.
  await page.locator('[data-test=filter-light] label', { hasText: '红灯' }).click()
  await rowOf(yellow).waitFor({ state: 'detached' })
  assert.equal(await rowOf(red).count(), 1)
  await page.locator('[data-test=filter-light] label', { hasText: '全部' }).click()
  await rowOf(yellow).waitFor()

  // The command centre closes the yellow task over REST: it leaves the board live.
  const requests = []
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/v1/events') requests.push(r.url())
  })
  const moved = await rest.post(DEMO.dispatcher, `/api/v1/events/${yellow}/moves`, { move: 'reject', reason: '重复上报，已另案处理' })
  assert.equal(moved.status, 200, JSON.stringify(moved.body))
  await rowOf(yellow).waitFor({ state: 'detached' })
  assert.equal(await rowOf(red).count(), 1)
  assert.deepEqual(requests, [], 'the board changed without reading the list again')
}
