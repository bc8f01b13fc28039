// Where the signed-in session's tokens live: this tab's sessionStorage, so a reload keeps the
// user signed in but another tab or a closed browser does not.
import type { components } from '../../generated/openapi'

export type TokenPair = components['schemas']['TokenPair']

export interface StoredTokens {
  access: string
  refresh: string
  /** Epoch milliseconds when the access token expires (by this browser's clock). */
  expiresAt: number
  /** The access token's lifetime in milliseconds, to decide how early to refresh. */
  ttlMs: number
}

const KEY = 'gridwing.console.tokens'

export function storeTokens(pair: TokenPair): StoredTokens {
  const ttlMs = pair.expires_in * 1000
  const stored = { access: pair.access_token, refresh: pair.refresh_token, expiresAt: Date.now() + ttlMs, ttlMs }
  sessionStorage.setItem(KEY, JSON.stringify(stored))
  return stored
}

export function loadTokens(): StoredTokens | null {
  const raw = sessionStorage.getItem(KEY)
  if (raw === null) return null
  try {
    const t = JSON.parse(raw) as Partial<StoredTokens>
    if (typeof t.access === 'string' && typeof t.refresh === 'string' && typeof t.expiresAt === 'number' && typeof t.ttlMs === 'number') {
      return t as StoredTokens
    }
  } catch {
    // A value this console did not write: forget it below.
  }
  sessionStorage.removeItem(KEY)
  return null
}

export function clearTokens(): void {
  sessionStorage.removeItem(KEY)
}

/**
 * When to refresh: a minute before expiry, or a quarter of the lifetime before it when tokens
 * are short-lived, so a request never leaves with a token about to lapse.
 */
export function refreshDueAt(t: StoredTokens): number {
  return t.expiresAt - Math.min(60_000, t.ttlMs / 4)
}
