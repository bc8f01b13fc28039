// The one live connection of the console: `/api/v1/live` (api/src/live/routes.rs), shared by
// every page that listens (调度台, 一张图, 亮灯督办, an event's page).
//
//   const stop = listen((item) => …)      // each FeedItem, once, in cursor order
//   await liveOpen()                       // resolves once the socket is open
//   stop()                                 // the socket closes when nobody listens
//
// Nothing is lost across a reconnect: the socket is reopened with `after=` the cursor of the
// last item received, so the server sends what came in between first (and nothing twice). The
// token goes in `?token=` (a browser cannot set headers on a websocket) and is refreshed before
// each reconnect, so a socket closed with 1008 (token expired) comes back with a fresh one;
// before that happens a fresh socket takes over from the old one (see `renew`).
// When no item has been received yet there is no cursor to resume from: listeners then get a
// `resync` call and reload what they show, so a gap before the first item is not lost either.
import { reactive } from 'vue'
import type { components } from '../../generated/openapi'
import { accessToken, accessTokenReplacing } from '../api/client'

export type LiveItem = components['schemas']['FeedItem']
export type EventView = components['schemas']['EventView']

export interface Listener {
  (item: LiveItem): void
}

export const liveState = reactive({
  connected: false,
  /** The cursor of the last item received. */
  cursor: null as string | null,
  /** Reconnections since the page loaded. */
  reconnects: 0,
})

const listeners = new Set<Listener>()
const resyncListeners = new Set<() => void>()
let socket: WebSocket | null = null
let retryTimer: ReturnType<typeof setTimeout> | undefined
let backoffMs = 250
let openWaiters: Array<() => void> = []
let everOpened = false

function url(token: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const q = new URLSearchParams({ token })
  if (liveState.cursor !== null) q.set('after', liveState.cursor)
  return `${proto}//${location.host}/api/v1/live?${q.toString()}`
}

/** When a JWT expires (epoch ms), read from its payload; the server closes the socket then. */
function expiresAt(token: string): number | null {
  try {
    const payload = JSON.parse(atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number }
    return typeof payload.exp === 'number' ? payload.exp * 1000 : null
  } catch {
    return null
  }
}

let renewTimer: ReturnType<typeof setTimeout> | undefined
/** The token the open socket was opened with: the server ends that socket at its expiry. */
let socketToken: string | null = null

async function connect(): Promise<void> {
  clearTimeout(retryTimer)
  if (listeners.size === 0 || socket !== null) return
  const token = await accessToken()
  if (token === null || listeners.size === 0 || socket !== null) return
  socket = open(token)
}

/**
 * Before the server closes the socket at its token's expiry (1008), a second socket is opened
 * with a fresh token and the first is closed once the second is open: no moment without a
 * socket, so even before any item (no cursor to resume from) nothing falls in a gap. Items the
 * two both deliver are told apart by their cursors.
 */
async function renew(): Promise<void> {
  const old = socket
  if (old === null || listeners.size === 0 || socketToken === null) return
  const token = await accessTokenReplacing(socketToken)
  if (token === null || socket !== old) return
  const next = open(token, old)
  socket = next
}

function open(token: string, replacing: WebSocket | null = null): WebSocket {
  const ws = new WebSocket(url(token))
  ws.onopen = () => {
    socketToken = token
    backoffMs = 250
    liveState.connected = true
    if (replacing) {
      replacing.onclose = null
      replacing.close(1000)
    }
    // A reopened socket without a cursor cannot ask for what it missed: listeners reload.
    else if (everOpened && liveState.cursor === null) for (const cb of resyncListeners) cb()
    everOpened = true
    const exp = expiresAt(token)
    clearTimeout(renewTimer)
    if (exp !== null) renewTimer = setTimeout(() => void renew(), Math.max(0, exp - Date.now() - 2_000))
    const waiters = openWaiters
    openWaiters = []
    for (const w of waiters) w()
  }
  ws.onmessage = (msg) => {
    let item: LiveItem
    try {
      item = JSON.parse(String(msg.data)) as LiveItem
    } catch {
      return
    }
    // Cursors only grow; one already seen (never expected) is not delivered twice.
    if (liveState.cursor !== null && BigInt(item.cursor) <= BigInt(liveState.cursor)) return
    liveState.cursor = item.cursor
    for (const cb of listeners) {
      try {
        cb(item)
      } catch (e) {
        console.error('live listener', e)
      }
    }
  }
  ws.onclose = () => {
    // A replacement that failed to open leaves the socket it was to replace in charge.
    if (replacing && socket === ws && replacing.readyState === WebSocket.OPEN) {
      socket = replacing
      return
    }
    if (socket !== ws) return
    socket = null
    liveState.connected = false
    if (listeners.size === 0) return
    liveState.reconnects++
    retryTimer = setTimeout(() => void connect(), backoffMs)
    backoffMs = Math.min(backoffMs * 2, 5_000)
  }
  return ws
}

/** Hears every live item from now on; returns the function that stops listening. */
export function listen(cb: Listener, onResync?: () => void): () => void {
  listeners.add(cb)
  if (onResync) resyncListeners.add(onResync)
  void connect()
  return () => {
    listeners.delete(cb)
    if (onResync) resyncListeners.delete(onResync)
    if (listeners.size === 0) {
      clearTimeout(retryTimer)
      clearTimeout(renewTimer)
      if (socket) socket.onclose = null
      socket?.close(1000)
      socket = null
      liveState.connected = false
      // The next page loads its own data after opening: nothing to resume for it.
      liveState.cursor = null
      everOpened = false
    }
  }
}

/** Resolves once the socket is open (at once if it is), so a page loads its data after that. */
export function liveOpen(timeoutMs = 3_000): Promise<void> {
  if (liveState.connected) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(resolve, timeoutMs)
    openWaiters.push(() => {
      clearTimeout(t)
      resolve()
    })
  })
}

/** The event an item carries, for the kinds whose payload is an EventView. */
export function eventOf(item: LiveItem): EventView | null {
  if (!item.kind.startsWith('event.') && !item.kind.startsWith('task.') && !item.kind.startsWith('report.')) return null
  const p = item.payload as Partial<EventView>
  return typeof p.id === 'string' && typeof p.status === 'string' ? (p as EventView) : null
}
