// The live feed (/api/v1/live) for the volunteer pages: one websocket while a page needs it.
//
// The server ends a socket when its access token expires (1008). So that nothing said meanwhile
// is lost, the page opens the next socket with the refreshed token just before that and closes
// the old one once the new one is open; items both deliver are told apart by their cursor. A
// socket that drops anyway is reopened with the last cursor (`after`): the server sends what
// came after it first.
import { onBeforeUnmount, ref } from 'vue'
import { accessToken } from '../../api/client'

export interface LiveItem {
  cursor: string
  kind: string
  event_id: string
  payload: Record<string, unknown>
}

/** When a JWT expires (epoch ms), from its `exp` claim; null when it cannot be read. */
function expiresAt(jwt: string): number | null {
  try {
    const part = jwt.split('.')[1] ?? ''
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'))
    const exp = (JSON.parse(json) as { exp?: unknown }).exp
    return typeof exp === 'number' ? exp * 1000 : null
  } catch {
    return null
  }
}

/**
 * Listens while the calling component is mounted. `onItem` gets each item once; `onOpen` runs
 * on every connection made after a drop (and the first), where a page reads again what it
 * shows.
 */
export function useLive(onItem: (item: LiveItem) => void, onOpen?: () => void) {
  const connected = ref(false)
  let socket: WebSocket | null = null
  let last: bigint | null = null
  let stopped = false
  let retry: ReturnType<typeof setTimeout> | undefined
  let handover: ReturnType<typeof setTimeout> | undefined
  let failures = 0

  async function connect(replacing: boolean) {
    if (stopped) return
    const token = await accessToken()
    if (token === null || stopped) return
    const url = new URL('/api/v1/live', window.location.href)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    url.searchParams.set('token', token)
    if (last !== null) url.searchParams.set('after', last.toString())
    const ws = new WebSocket(url)
    ws.onopen = () => {
      const old = socket
      socket = ws
      old?.close(1000)
      connected.value = true
      failures = 0
      if (!replacing) onOpen?.()
      const exp = expiresAt(token)
      clearTimeout(handover)
      // A second before the server would end it; by then the session has a fresh token.
      if (exp !== null) handover = setTimeout(() => void connect(true), Math.max(1_000, exp - Date.now() - 1_000))
    }
    ws.onmessage = (msg) => {
      let item: LiveItem
      try {
        item = JSON.parse(String(msg.data)) as LiveItem
      } catch {
        return
      }
      const at = /^\d+$/.test(item.cursor) ? BigInt(item.cursor) : null
      if (at !== null && last !== null && at <= last) return
      if (at !== null) last = at
      onItem(item)
    }
    ws.onclose = () => {
      // A socket replaced by a newer one, or one that never became the current one while
      // another is open, needs nothing.
      if (socket !== null && socket !== ws) return
      socket = null
      connected.value = false
      if (stopped) return
      failures++
      // Back off a little on repeated failures (server restarting, too many sockets).
      clearTimeout(retry)
      retry = setTimeout(() => void connect(false), failures <= 1 ? 0 : Math.min(10_000, 250 * 2 ** Math.min(failures, 6)))
    }
  }

  void connect(false)
  onBeforeUnmount(() => {
    stopped = true
    clearTimeout(retry)
    clearTimeout(handover)
    socket?.close(1000)
  })
  return { connected }
}
