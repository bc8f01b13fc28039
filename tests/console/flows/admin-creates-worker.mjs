// (c) An admin creates a grid worker through the console (phone, name, password, the role and a
// grid picked from the area tree); that worker can then log in over REST, and /me names the grid.
import { assert, DEMO, signIn } from '../lib.mjs'

export const name = 'admin-creates-worker'

const GRID = 'QSH-G002'

export default async function ({ page, base, rest, shot }) {
  // A phone no demo account has, different on every run against a long-lived server.
  const phone = `139${String(Date.now() % 1e8).padStart(8, '0')}`
  const password = 'Wangge2026x'
  const grid = await rest.get(DEMO.admin, `/api/v1/areas/${GRID}`)
  assert.equal(grid.status, 200)

  await signIn(page, base, DEMO.admin)
  await page.goto(`${base}/console/admin`)
  await page.locator('[data-test=page-admin-users][data-ready=true]').waitFor()

  await page.locator('[data-test=user-create]').click()
  const form = page.locator('[data-test=user-form]')
  await form.waitFor()
  await form.locator('input[name=phone]').fill(phone)
  await form.locator('input[name=name]').fill('测试网格员')
  await form.locator('input[name=password]').fill(password)
  await form.locator('[data-role=grid_worker]').click()
  // The grid is picked from the area tree, found by typing its code.
  await form.locator('[data-test=user-areas]').click()
  await page.keyboard.type(GRID)
  await page.locator('.area-picker-popper').getByText(`${grid.body.name}（${GRID}）`, { exact: true }).click()
  await form.locator('[data-test=user-areas]').getByText(`${grid.body.name}（${GRID}）`).waitFor()
  // Closing the picker (a click beside it) uncovers the dialog's buttons.
  await page.locator('.el-dialog__title', { hasText: '新建用户' }).click()
  await page.locator('.el-popper.area-picker-popper').waitFor({ state: 'hidden' })

  const [created] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/users') && r.request().method() === 'POST'),
    page.locator('[data-test=user-submit]').click(),
  ])
  assert.equal(created.status(), 201, await created.text())
  await page.locator('[data-test=user-form]').waitFor({ state: 'hidden' })

  // The list finds the new account by its phone, with its role and grid.
  await page.locator('[data-test=user-filters] input[name=q]').fill(phone)
  const [searched] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/users' && new URL(r.url()).searchParams.get('q') === phone),
    page.locator('[data-test=user-search]').click(),
  ])
  assert.equal(searched.status(), 200)
  assert.equal((await searched.json()).items.length, 1)
  const row = page.locator('[data-test=user-table] .el-table__row', { hasText: phone })
  await row.waitFor()
  await page.locator('[data-test=user-table] .el-table__row').nth(1).waitFor({ state: 'detached' })
  await row.getByText('网格员', { exact: true }).waitFor()
  await row.getByText(`网格 ${grid.body.name}`).waitFor()
  await shot('created')

  // The worker logs in over REST and is who the admin made them.
  const pair = await rest.login(phone, password)
  const me = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${pair.access_token}` } })
  assert.equal(me.status, 200)
  const body = await me.json()
  assert.equal(body.phone, phone)
  assert.equal(body.name, '测试网格员')
  assert.deepEqual(body.roles, ['grid_worker'])
  assert.deepEqual(body.areas, [{ kind: 'grid', code: GRID }])
}
