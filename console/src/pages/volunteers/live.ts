// The live feed (/api/v1/live) for the volunteer pages: one websocket while a page needs it,
// reconnected with the last cursor (`after`) so nothing is missed, with a fresh token when the
// server closed it for an expired one (1008).
import { onBeforeUnmount, ref } from 'vue'
import { accessToken } from '../../api/client'

export interface LiveItem {
  cursor: string
  kind: string
  event_id: string
  payload: Record<string, unknown>
}

/**
 * Listens while the calling component is mounted. `onItem` gets each item; `onOpen` runs on
 * every (re)connection, where a page reads again what it shows so that an answer given while
 * the socket was down is on screen too.
 */
export function useLive(onItem: (item: LiveItem) => void, onOpen?: () => void) {
  const connected = ref(false)
  let socket: WebSocket | null = null
  let cursor: string | null = null
  let stopped = false
  let retry: ReturnType<typeof setTimeout> | undefined
  let failures = 0

  async function connect() {
    if (stopped) return
    const token = await accessToken()
    if (token === null || stopped) return
    const url = new URL('/api/v1/live', window.location.href)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    url.searchParams.set('token', token)
    if (cursor !== null) url.searchParams.set('after', cursor)
    const ws = new WebSocket(url)
    socket = ws
    ws.onopen = () => {
      connected.value = true
      failures = 0
      onOpen?.()
    }
    ws.onmessage = (msg) => {
      try {
        const item = JSON.parse(String(msg.data)) as LiveItem
        cursor = item.cursor
        onItem(item)
      } catch {
        // Not an item of the feed: nothing to show.
      }
    }
    ws.onclose = () => {
      connected.value = false
      if (socket === ws) socket = null
      if (stopped) return
      // Back off a little on repeated failures (server restarting, too many sockets).
      failures++
      retry = setTimeout(() => void connect(), Math.min(10_000, 300 * 2 ** Math.min(failures, 5)))
    }
  }

  void connect()
  onBeforeUnmount(() => {
    stopped = true
    clearTimeout(retry)
    socket?.close()
  })
  return { connected }
}
