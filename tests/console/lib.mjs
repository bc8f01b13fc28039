// What every flow gets: the demo accounts, a REST client that keeps tokens fresh, and helpers
// to drive the console's login page. Flows live in flows/, one file each (see README.md).
import assert from 'node:assert/strict'

export { assert }

/** The demo accounts `gridwing serve --demo` creates (api/src/demo.rs), all with DEMO_PASSWORD. */
export const DEMO = {
  admin: '13800000001',
  dispatcher: '13800000002',
  gridWorker: '13800000003',
  teamMember: '13800000004',
  coordinator: '13800000005',
  citizen: '13800000006',
  otherGridWorker: '13800000007',
}
export const DEMO_PASSWORD = 'gridwing2026'

/** The claims of a JWT (not verified: only to read `exp`). */
export function claims(jwt) {
  const payload = jwt.split('.')[1] ?? ''
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
}

/**
 * REST calls to the server under test, as the demo accounts (phones or DEMO keys):
 *   await rest.post(DEMO.citizen, '/api/v1/events', body, { 'idempotency-key': '…' })
 * Each account logs in once and again when its access token has expired (the server under
 * test may run with short-lived tokens). A call answers { status, body, headers }.
 */
export function restClient(base) {
  const tokens = new Map()

  async function login(phone, password = DEMO_PASSWORD) {
    const res = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone, password }),
    })
    const body = await res.json()
    if (res.status !== 200) throw new Error(`login ${phone}: ${res.status} ${JSON.stringify(body)}`)
    return body
  }

  async function token(phone) {
    const held = tokens.get(phone)
    if (held && held.exp * 1000 > Date.now()) return held.token
    const pair = await login(phone)
    tokens.set(phone, { token: pair.access_token, exp: claims(pair.access_token).exp })
    return pair.access_token
  }

  async function call(method, phone, path, body, headers = {}) {
    const h = { ...headers }
    if (phone) h.authorization = `Bearer ${await token(phone)}`
    if (body !== undefined) h['content-type'] = 'application/json'
    const res = await fetch(`${base}${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    let parsed = text
    try {
      parsed = text === '' ? null : JSON.parse(text)
    } catch {
      // Not JSON: keep the text.
    }
    return { status: res.status, body: parsed, headers: res.headers }
  }

  return {
    login,
    token,
    call,
    get: (phone, path, headers) => call('GET', phone, path, undefined, headers),
    post: (phone, path, body, headers) => call('POST', phone, path, body, headers),
    patch: (phone, path, body, headers) => call('PATCH', phone, path, body, headers),
    put: (phone, path, body, headers) => call('PUT', phone, path, body, headers),
    delete: (phone, path, headers) => call('DELETE', phone, path, undefined, headers),
  }
}

/** Opens the console and signs in through its login page; resolves once the page has left it. */
export async function signIn(page, base, phone, password = DEMO_PASSWORD) {
  await page.goto(`${base}/console/`)
  await page.locator('[data-test=login-form]').waitFor()
  await page.locator('input[name=phone]').fill(phone)
  await page.locator('input[name=password]').fill(password)
  await page.locator('[data-test=login-submit]').click()
  await page.waitForURL((url) => !url.pathname.startsWith('/console/login'))
}

/**
 * Waits until `predicate()` holds (checked every 50 ms), for state a flow gathers itself from
 * page events; for the page's own state use Playwright's locators and waitFor* instead.
 */
export async function until(predicate, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
