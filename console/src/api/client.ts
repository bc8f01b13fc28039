// The console's one way to the API. Every call goes through `api` (typed from the OpenAPI
// document by openapi-fetch) and `data()`:
//
//   const me = await data(api.GET('/api/v1/me'))
//   const page = await data(api.GET('/api/v1/events', { params: { query: { status: 'reported' } } }))
//
// A request carries the session's bearer token. The token is refreshed before it expires, by a
// timer and again before any request that would leave with a token about to lapse; a 401 on a
// request gets one refresh and one retry. Refresh tokens work once (a second use ends the whole
// session on the server), so at most one refresh is ever in flight. A failed call throws an
// ApiProblem whose message is Chinese and names the fields at fault.
import createClient from 'openapi-fetch'
import type { paths } from '../../generated/openapi'
import { ApiProblem, type ProblemBody } from './problem'
import { clearTokens, loadTokens, refreshDueAt, storeTokens, type StoredTokens, type TokenPair } from './tokens'

let tokens: StoredTokens | null = loadTokens()
let refreshing: Promise<StoredTokens | null> | null = null
let timer: ReturnType<typeof setTimeout> | undefined
const endedListeners: Array<(why: 'expired' | 'logout') => void> = []

/** Called when the session ends: logged out here, or refused by the server. */
export function onSessionEnded(cb: (why: 'expired' | 'logout') => void): void {
  endedListeners.push(cb)
}

export function hasSession(): boolean {
  return tokens !== null
}

/** The current access token, for the live websocket's `?token=` (headers cannot be set there). */
export async function accessToken(): Promise<string | null> {
  const t = await freshTokens()
  return t?.access ?? null
}

/**
 * An access token other than `replacing`, refreshed now if need be: for a websocket that takes
 * over before the server ends the one opened with `replacing` at that token's expiry. (The
 * usual early refresh may not have come yet; a socket opened with the same token would end
 * at the same moment.)
 */
export async function accessTokenReplacing(replacing: string): Promise<string | null> {
  let t = await freshTokens()
  if (t !== null && t.access === replacing) t = await refreshNow()
  return t?.access ?? null
}

function schedule(): void {
  clearTimeout(timer)
  if (tokens === null) return
  const wait = Math.max(0, refreshDueAt(tokens) - Date.now())
  timer = setTimeout(() => void refreshNow(), wait)
}

function end(why: 'expired' | 'logout'): void {
  clearTimeout(timer)
  tokens = null
  clearTokens()
  for (const cb of endedListeners) cb(why)
}

/** Exchanges the refresh token once, however many callers ask at the same time. */
function refreshNow(): Promise<StoredTokens | null> {
  if (refreshing) return refreshing
  const current = tokens
  if (current === null) return Promise.resolve(null)
  refreshing = (async () => {
    try {
      const res = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: current.refresh }),
      })
      if (res.status === 401) {
        end('expired')
        return null
      }
      if (!res.ok) throw await problemOf(res)
      tokens = storeTokens((await res.json()) as TokenPair)
      schedule()
      return tokens
    } catch (e) {
      // The server could not be reached or failed: keep the tokens and try again shortly;
      // a request meanwhile still has its (possibly still valid) access token.
      clearTimeout(timer)
      timer = setTimeout(() => void refreshNow(), 5_000)
      if (e instanceof ApiProblem) console.warn('refresh failed', e.message)
      return tokens
    } finally {
      refreshing = null
    }
  })()
  return refreshing
}

async function freshTokens(): Promise<StoredTokens | null> {
  if (tokens !== null && Date.now() >= refreshDueAt(tokens)) return refreshNow()
  return tokens
}

async function problemOf(res: Response): Promise<ApiProblem> {
  let body: Partial<ProblemBody> | null = null
  try {
    body = (await res.json()) as Partial<ProblemBody>
  } catch {
    body = null
  }
  return new ApiProblem(res.status, body, res.headers.get('retry-after'))
}

async function send(request: Request, token: string | null): Promise<Response> {
  const req = request.clone()
  if (token !== null) req.headers.set('authorization', `Bearer ${token}`)
  try {
    return await fetch(req)
  } catch {
    throw new ApiProblem(0, null)
  }
}

async function authedFetch(request: Request): Promise<Response> {
  const before = await freshTokens()
  const res = await send(request, before?.access ?? null)
  if (res.status !== 401 || before === null) return res
  // The token may have been revoked or have lapsed while the tab slept: refresh once and retry.
  const after = tokens !== null && tokens.access !== before.access ? tokens : await refreshNow()
  if (after === null) return res
  return send(request, after.access)
}

/** The typed client. Paths and bodies are checked against openapi/openapi.json at build time. */
export const api = createClient<paths>({ baseUrl: '', fetch: authedFetch })

/** The data of a call, or an ApiProblem (Chinese message, fields at fault) when it failed. */
export async function data<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let r: { data?: T; error?: unknown; response: Response }
  try {
    r = await call
  } catch (e) {
    if (e instanceof ApiProblem) throw e
    throw new ApiProblem(0, null)
  }
  if (r.response.ok) return r.data as T
  const body = (r.error && typeof r.error === 'object' ? r.error : null) as Partial<ProblemBody> | null
  throw new ApiProblem(r.response.status, body, r.response.headers.get('retry-after'))
}

/** Logs in; the tokens are kept for this tab and refreshed from now on. */
export async function login(phone: string, password: string): Promise<void> {
  const pair = await data(createClient<paths>({ baseUrl: '' }).POST('/api/v1/auth/login', { body: { phone, password } }))
  tokens = storeTokens(pair)
  schedule()
}

/** Ends the session on the server (its refresh token stops working) and here. */
export async function logout(): Promise<void> {
  if (tokens !== null) {
    try {
      await data(api.POST('/api/v1/auth/logout'))
    } catch (e) {
      // Already ended on the server (401) is what we want; anything else is still a logout here.
      if (!(e instanceof ApiProblem && e.status === 401)) console.warn('logout', e)
    }
  }
  end('logout')
}

schedule()
