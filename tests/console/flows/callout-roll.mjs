// A call-out's roll fills in live: the coordinator calls out the volunteers of a grid through
// the console; a volunteer answers over REST; their answer and the new tally appear on the
// roll without a reload, pushed over /api/v1/live (sooner than the page's fallback poll).
import { assert, DEMO, DEMO_PASSWORD, signIn, until } from '../lib.mjs'

export const name = 'callout-roll'

const GRID = 'QSH-G001'

export default async function ({ page, base, rest, shot }) {
  // A volunteer of the grid, new for this flow.
  const phone = `137${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`
  const made = await rest.post(DEMO.admin, '/api/v1/users', { phone, name: '召集测试志愿者', password: DEMO_PASSWORD, roles: ['citizen'] })
  assert.equal(made.status, 201, JSON.stringify(made.body))
  const volunteer = made.body.id
  const registered = await rest.post(phone, '/api/v1/volunteers/me', { areas: [GRID], skills: ['急救'] })
  assert.ok([200, 201].includes(registered.status), JSON.stringify(registered.body))

  const sockets = []
  const frames = []
  page.on('websocket', (ws) => {
    sockets.push(ws)
    ws.on('framereceived', (f) => frames.push(String(f.payload)))
  })
  await signIn(page, base, DEMO.coordinator)
  await page.goto(`${base}/console/volunteers/callouts`)
  await page.locator('[data-test=page-callouts][data-ready=true]').waitFor()
  const form = page.locator('[data-test=callout-form]')
  const submit = page.locator('[data-test=callout-submit]')

  // Checked before sending.
  let posts = 0
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/callouts') posts++
  })
  await submit.click()
  await form.getByText('请输入标题').waitFor()
  await form.getByText('请输入区域或队伍编码').waitFor()
  assert.equal(posts, 0)

  const title = `防汛紧急集结 ${Date.now()}`
  await form.locator('input[name=title]').fill(title)
  await form.locator('textarea[name=message]').fill('请于30分钟内到村委会集合，携带雨具。')
  await form.locator('input[name=target]').fill(GRID)
  const [created] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/callouts' && r.request().method() === 'POST'),
    submit.click(),
  ])
  assert.equal(created.status(), 201, await created.text())
  const callout = await created.json()
  assert.ok(callout.tally.called >= 1)

  const roll = page.locator(`[data-test=callout-roll][data-callout="${callout.id}"][data-ready=true]`)
  await roll.waitFor()
  const line = roll.locator(`[data-test=roll-row][data-user="${volunteer}"]`)
  await line.waitFor()
  assert.equal(await line.getAttribute('data-answer'), 'pending')
  assert.equal(await line.innerText(), '召集测试志愿者')
  assert.ok(sockets.some((ws) => new URL(ws.url()).pathname === '/api/v1/live'), 'the page did not open the live feed')

  // The server ends a socket when its token expires (the test server's live 6 s): the page
  // must have moved to a socket with a fresh token, and still hear the answer.
  await until(() => sockets.filter((ws) => new URL(ws.url()).pathname === '/api/v1/live').length >= 2, 'a second live socket', 20_000)

  // The volunteer answers; the roll shows it, live.
  const answered = await rest.post(phone, `/api/v1/callouts/${callout.id}/answer`, { answer: 'yes' })
  assert.equal(answered.status, 200, JSON.stringify(answered.body))
  // Pushed to the coordinator who made the call-out…
  await until(
    () => frames.some((f) => f.includes('"callout.answered"') && f.includes(callout.id)),
    'callout.answered on the live feed',
    5000,
  )
  // …and shown on the roll.
  await roll.locator(`[data-test=roll-row][data-user="${volunteer}"][data-answer=yes]`).waitFor({ timeout: 5000 })
  await roll.locator('[data-test=tally-yes]').getByText('1', { exact: true }).waitFor({ timeout: 5000 })
  await shot('answered')
}
