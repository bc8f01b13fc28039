// The admin's user form: checked before sending (nothing leaves while a field is wrong), and a
// phone the server refuses (already registered) shows the server's Chinese message under the
// phone field.
import { assert, DEMO, signIn } from '../lib.mjs'

export const name = 'admin-user-refused'

export default async function ({ page, base, shot }) {
  let posts = 0
  page.on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/api/v1/users') posts++
  })
  await signIn(page, base, DEMO.admin)
  await page.goto(`${base}/console/admin`)
  await page.locator('[data-test=page-admin-users][data-ready=true]').waitFor()
  await page.locator('[data-test=user-create]').click()
  const form = page.locator('[data-test=user-form]')
  await form.waitFor()
  const phoneItem = form.locator('.el-form-item', { has: page.locator('input[name=phone]') })

  // Empty and malformed fields are caught here.
  await page.locator('[data-test=user-submit]').click()
  await phoneItem.getByText('请输入手机号').waitFor()
  await form.getByText('请至少选择一个角色').waitFor()
  await form.locator('input[name=phone]').fill('1380000')
  await form.locator('input[name=name]').fill('重复号码')
  await form.locator('input[name=password]').fill('short')
  await page.locator('[data-test=user-submit]').click()
  await phoneItem.getByText('请输入 11 位中国大陆手机号').waitFor()
  await form.getByText('密码长度须为 8–128 位').waitFor()
  assert.equal(posts, 0, 'the form sent what it should have refused')

  // A well-formed phone the server already has: its refusal, in Chinese, at the phone field.
  await form.locator('input[name=phone]').fill(DEMO.dispatcher)
  await form.locator('input[name=password]').fill('Chongfu2026x')
  await form.locator('[data-role=dispatcher]').click()
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/users') && r.request().method() === 'POST'),
    page.locator('[data-test=user-submit]').click(),
  ])
  assert.equal(refused.status(), 409)
  const problem = await refused.json()
  assert.deepEqual(problem.errors.map((e) => e.field), ['phone'])
  await phoneItem.locator('.el-form-item__error').getByText('手机号已存在').waitFor()
  assert.equal(posts, 1)
  // The dialog stays open with what was typed, to be corrected.
  assert.equal(await form.locator('input[name=phone]').inputValue(), DEMO.dispatcher)
  await shot('refused')
}
