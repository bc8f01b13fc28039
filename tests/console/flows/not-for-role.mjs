// (d) A citizen's or a grid worker's token gets the "not for your role" page and no data: the
// only API calls the console makes for them are the login and /me that said who they are.
import { assert, DEMO, signIn } from '../lib.mjs'

export const name = 'not-for-role'

// Calls that tell who someone is (a refresh only renews the token); anything else would be data.
const IDENTITY = new Set(['/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/me'])

export default async function ({ page: first, context, base, shot }) {
  for (const [who, phone] of [
    ['grid-worker', DEMO.gridWorker],
    ['citizen', DEMO.citizen],
  ]) {
    // The citizen goes last, on the flow's own page: the flow's closing screenshot shows them.
    const page = who === 'citizen' ? first : await context.newPage()
    const calls = []
    page.on('request', (req) => {
      const url = new URL(req.url())
      if (url.pathname.startsWith('/api/')) calls.push(`${req.method()} ${url.pathname}`)
    })
    const sockets = []
    page.on('websocket', (ws) => sockets.push(ws.url()))

    await signIn(page, base, phone)
    const notice = page.locator('[data-test=not-for-role]')
    await notice.waitFor()
    assert.match(await notice.innerText(), /此页面不适用于您的角色/)
    // A console page opened by its address is refused the same way, before it loads anything.
    for (const path of ['/console/dispatch', '/console/map', '/console/admin', '/console/volunteers']) {
      await page.goto(`${base}${path}`)
      await notice.waitFor()
      assert.match(new URL(page.url()).pathname, /^\/console\/not-for-role/, path)
    }
    // No side menu, no header with areas: the layout was never shown.
    assert.equal(await page.locator('.el-menu').count(), 0)
    await shot(who, page)

    const data = calls.filter((c) => !IDENTITY.has(c.split(' ')[1]))
    assert.deepEqual(data, [], `${who}: API calls beyond login and /me: ${data.join(', ')}`)
    assert.ok(calls.includes('GET /api/v1/me'), `${who}: /me was never asked: ${calls.join(', ')}`)
    assert.deepEqual(sockets, [], `${who}: websockets opened`)

    if (who === 'grid-worker') {
      // Logging out from that page ends the session.
      await page.locator('[data-test=logout]').click()
      await page.locator('[data-test=login-form]').waitFor()
      await page.close()
    }
  }
}
