// Rewards and redemptions: the coordinator adds a reward to the catalogue through the console;
// a citizen with points (an admin's adjustment) redeems it over REST; the coordinator finds it
// waiting to be handed out and fulfils it from the page.
import { assert, DEMO, DEMO_PASSWORD, signIn } from '../lib.mjs'

export const name = 'redemption'

export default async function ({ page, base, rest, shot }) {
  const phone = `136${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`
  const made = await rest.post(DEMO.admin, '/api/v1/users', { phone, name: '兑换测试居民', password: DEMO_PASSWORD, roles: ['citizen'] })
  assert.equal(made.status, 201, JSON.stringify(made.body))
  const points = await rest.post(
    DEMO.admin,
    '/api/v1/points/adjustments',
    { user_id: made.body.id, amount: 100, note: '兑换流程测试' },
    { 'idempotency-key': crypto.randomUUID() },
  )
  assert.equal(points.status, 201, JSON.stringify(points.body))

  await signIn(page, base, DEMO.coordinator)
  await page.goto(`${base}/console/volunteers/points`)
  await page.locator('[data-test=page-points][data-ready=true]').waitFor()
  // Adjustments and totals are for admins: a coordinator is not offered them.
  assert.equal(await page.locator('.el-tabs__item').getByText('积分调整与统计').count(), 0)

  // A reward, added through the form (checked before sending).
  await page.locator('.el-tabs__item').getByText('奖品目录').click()
  await page.locator('[data-test=new-reward]').click()
  const form = page.locator('[data-test=reward-form]')
  await page.locator('[data-test=reward-submit]').click()
  await form.getByText('请输入奖品编码').waitFor()
  const code = `SOAP-${Date.now()}`
  await form.locator('input[name=code]').fill(code)
  await form.locator('input[name=name]').fill('洗衣皂 2 块')
  const cost = form.locator('.el-input-number input').first()
  await cost.fill('60')
  await cost.blur()
  const [created] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/rewards' && r.request().method() === 'POST'),
    page.locator('[data-test=reward-submit]').click(),
  ])
  assert.equal(created.status(), 201, await created.text())
  const reward = await created.json()
  assert.equal(reward.cost, 60)
  await page.locator('[data-test=rewards]').getByText(code).waitFor()

  // Redeemed over REST: reserved, waiting to be handed out.
  const redeemed = await rest.post(phone, `/api/v1/rewards/${code}/redeem`, undefined, { 'idempotency-key': crypto.randomUUID() })
  assert.equal(redeemed.status, 201, JSON.stringify(redeemed.body))
  const id = redeemed.body.id

  await page.locator('.el-tabs__item').getByText('兑换发放').click()
  const tab = page.locator('#pane-redemptions')
  await tab.getByRole('button', { name: '刷新' }).click()
  const row = page.locator(`[data-test=redemption-row][data-id="${id}"][data-status=reserved]`)
  await row.waitFor()
  const line = row.locator('xpath=ancestor::tr')
  assert.match(await line.innerText(), /洗衣皂 2 块[\s\S]*60[\s\S]*待发放/)
  await shot('waiting')
  const [fulfilled] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/v1/redemptions/${id}/fulfil`)),
    line.locator('[data-test=fulfil]').click(),
  ])
  assert.equal(fulfilled.status(), 200, await fulfilled.text())
  // Handed out: gone from what waits, listed among the fulfilled.
  await row.waitFor({ state: 'detached' })
  await page.locator('[data-test=redemption-filter] .el-radio-button').getByText('已发放', { exact: true }).click()
  await page.locator(`[data-test=redemption-row][data-id="${id}"][data-status=fulfilled]`).waitFor()
  const after = await rest.get(DEMO.coordinator, `/api/v1/redemptions/${id}`)
  assert.equal(after.body.status, 'fulfilled')
}
