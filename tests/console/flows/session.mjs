// Login, a token refreshed before it expires without the user noticing, and logout.
//
// The server under test issues access tokens that live a few seconds (--access-ttl-secs), so
// the console must refresh twice within this flow; every call it makes meanwhile must succeed.
import { assert, claims, DEMO, DEMO_PASSWORD, until } from '../lib.mjs'

export const name = 'session'

export default async function ({ page, base, rest, shot }) {
  const apiCalls = []
  page.on('response', (res) => {
    const url = new URL(res.url())
    if (url.pathname.startsWith('/api/')) apiCalls.push({ path: url.pathname, status: res.status() })
  })
  const refreshes = []
  page.on('response', (res) => {
    if (new URL(res.url()).pathname === '/api/v1/auth/refresh') refreshes.push({ res, at: Date.now() })
  })
  let loginRequests = 0
  page.on('request', (req) => {
    if (new URL(req.url()).pathname === '/api/v1/auth/login') loginRequests++
  })

  await page.goto(`${base}/`)
  await page.waitForURL(`${base}/console/login`)
  const form = page.locator('[data-test=login-form]')
  const submit = page.locator('[data-test=login-submit]')

  // The form is checked before anything is sent.
  await submit.click()
  await form.getByText('请输入手机号').waitFor()
  await form.getByText('请输入密码').waitFor()
  await page.locator('input[name=phone]').fill('1380000')
  await page.locator('input[name=password]').fill('x')
  await submit.click()
  await form.getByText('请输入 11 位中国大陆手机号').waitFor()
  assert.equal(loginRequests, 0, 'the form sent an invalid login')

  // A wrong password is the server's refusal, in Chinese.
  await page.locator('input[name=phone]').fill(DEMO.dispatcher)
  await page.locator('input[name=password]').fill('not-the-password-1')
  await submit.click()
  await page.locator('[data-test=login-error]').getByText('手机号或密码错误').waitFor()

  // The right one opens the dispatcher's first page, with who they are and their area.
  await page.locator('input[name=password]').fill(DEMO_PASSWORD)
  const [loginRes] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login') && r.status() === 200),
    submit.click(),
  ])
  const first = await loginRes.json()
  assert.ok(first.expires_in <= 30, 'this flow needs a server with short-lived tokens: --access-ttl-secs 6')
  await page.waitForURL(`${base}/console/map`)
  const who = page.locator('[data-test=who]')
  await who.getByText('指挥中心值班员').first().waitFor()
  await page.locator('[data-test=areas]').getByText('街道 青山湖街道').waitFor()
  // Only the dispatcher's pages are in the menu.
  const menu = await page.locator('.el-menu').innerText()
  for (const entry of ['一张图', '调度台', '亮灯督办', '排名', '月度研判', '楼宇']) assert.ok(menu.includes(entry), menu)
  for (const entry of ['志愿者', '系统管理']) assert.ok(!menu.includes(entry), menu)
  await shot('signed-in')

  // Refreshed before expiry, twice: the second time the first token has already lapsed.
  await until(() => refreshes.length >= 2, 'two refreshes', first.expires_in * 2000 + 10_000)
  let current = first
  for (const [i, { res, at }] of refreshes.slice(0, 2).entries()) {
    assert.ok(at < claims(current.access_token).exp * 1000, `refresh ${i + 1} came after the token expired`)
    assert.equal(res.status(), 200, `refresh ${i + 1}`)
    assert.equal(JSON.parse(res.request().postData() ?? '{}').refresh_token, current.refresh_token)
    current = await res.json()
  }
  assert.ok(Date.now() > claims(first.access_token).exp * 1000, 'the first token had not expired yet')

  // The user noticed nothing: still on the page, and a page they open loads with the new token.
  assert.equal(new URL(page.url()).pathname, '/console/map')
  const [me] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/api/v1/me')),
    page.reload(),
  ])
  assert.notEqual(me.headers().authorization, `Bearer ${first.access_token}`)
  await who.getByText('指挥中心值班员').first().waitFor()
  assert.equal(new URL(page.url()).pathname, '/console/map')
  const refused = apiCalls.filter((c) => c.status === 401 && c.path !== '/api/v1/auth/login')
  assert.deepEqual(refused, [], 'a call was refused while signed in')

  // Logout ends the session on the server: the refresh token the console held stops working.
  const held = JSON.parse((await page.evaluate(() => sessionStorage.getItem('gridwing.console.tokens'))) ?? 'null')
  assert.ok(held?.refresh, 'no tokens kept while signed in')
  const [logout] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/logout')),
    page.locator('[data-test=logout]').click(),
  ])
  assert.equal(logout.status(), 204)
  await page.locator('[data-test=login-form]').waitFor()
  const kept = await page.evaluate(() => sessionStorage.getItem('gridwing.console.tokens'))
  assert.equal(kept, null, 'tokens kept after logout')
  const after = await rest.post(null, '/api/v1/auth/refresh', { refresh_token: held.refresh })
  assert.equal(after.status, 401, 'the session outlived its logout')
  // A page opened after logout asks to sign in.
  await page.goto(`${base}/console/dispatch`)
  await page.waitForURL(/\/console\/login\?redirect=/)
}
