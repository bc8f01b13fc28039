// Logging websocket proxy: shows every automerge-repo frame between a client and a server.
//
//   node tap.mjs <listen-port> <upstream ws url>     e.g. node tap.mjs 4000 ws://127.0.0.1:8080
//
// A client connecting to ws://127.0.0.1:<listen-port>/some/path?query is forwarded to
// <upstream><path?query> (path and query are appended only if the upstream url has no path).
// One JSON line per frame on stdout: {dir:"c->s"|"s->c", bytes, hex?, msg}, where msg is the
// CBOR-decoded map with `data` shown as hex and, for sync/request, also decoded as an automerge
// sync message. Prints `listening <port>` first. TAP_HEX=1 adds the raw frame hex.
import http from "node:http"
import { WebSocketServer, WebSocket } from "ws"
import { cbor } from "@automerge/automerge-repo"
import { next as A } from "@automerge/automerge"

const [listenPort, upstream] = [Number(process.argv[2] ?? 0), process.argv[3]]
if (!upstream) {
  console.error("usage: node tap.mjs <listen-port> <upstream ws url>")
  process.exit(2)
}
const hex = b => Buffer.from(b).toString("hex")

function describe(buf) {
  let msg
  try {
    msg = cbor.decode(new Uint8Array(buf))
  } catch (e) {
    return { undecodable: String(e) }
  }
  if (msg && typeof msg === "object" && msg.data instanceof Uint8Array) {
    const out = { ...msg, data: hex(msg.data) }
    if (msg.type === "sync" || msg.type === "request") {
      try {
        const m = A.decodeSyncMessage(msg.data)
        out.syncMessage = {
          type: m.type,
          heads: m.heads,
          need: m.need,
          have: m.have.map(h => ({ lastSync: h.lastSync, bloomBytes: h.bloom?.length ?? 0 })),
          changes: m.changes.length,
          supportedCapabilities: m.supportedCapabilities,
        }
      } catch (e) {
        out.syncMessage = { error: String(e) }
      }
    } else if (msg.type === "ephemeral") {
      try {
        out.ephemeralPayload = cbor.decode(msg.data)
      } catch {}
    }
    return out
  }
  return msg
}

const server = http.createServer()
const wss = new WebSocketServer({ server })
wss.on("connection", (client, req) => {
  const u = new URL(upstream)
  const target = u.pathname === "/" && !u.search ? upstream.replace(/\/$/, "") + req.url : upstream
  const up = new WebSocket(target)
  const pending = []
  const log = (dir, data) => {
    const line = { t: Date.now(), dir, bytes: data.byteLength, msg: describe(data) }
    if (process.env.TAP_HEX) line.hex = hex(data)
    process.stdout.write(JSON.stringify(line) + "\n")
  }
  client.on("message", (data, isBinary) => {
    log("c->s", data)
    if (up.readyState === WebSocket.OPEN) up.send(data, { binary: isBinary })
    else pending.push([data, isBinary])
  })
  up.on("open", () => {
    for (const [d, b] of pending.splice(0)) up.send(d, { binary: b })
  })
  up.on("message", (data, isBinary) => {
    log("s->c", data)
    if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary })
  })
  up.on("unexpected-response", (_req, res) => {
    process.stdout.write(JSON.stringify({ t: Date.now(), dir: "s->c", upgradeRefused: res.statusCode }) + "\n")
    client.close(1011, `upstream ${res.statusCode}`)
  })
  up.on("close", (code, reason) => {
    process.stdout.write(JSON.stringify({ t: Date.now(), dir: "s->c", close: code, reason: String(reason) }) + "\n")
    if (client.readyState === WebSocket.OPEN) client.close()
  })
  up.on("error", e => {
    process.stdout.write(JSON.stringify({ t: Date.now(), upstreamError: String(e) }) + "\n")
  })
  client.on("close", (code, reason) => {
    process.stdout.write(JSON.stringify({ t: Date.now(), dir: "c->s", close: code, reason: String(reason) }) + "\n")
    if (up.readyState === WebSocket.OPEN || up.readyState === WebSocket.CONNECTING) up.terminate()
  })
})
server.listen(listenPort, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`)
})
