// Reference automerge-repo sync server: the stock JS Repo + NodeWSServerAdapter over `ws`.
//
//   node node-server.mjs [port]          (or PORT=...; 0 or unset = pick a free port)
//
// Prints `listening <port>` on stdout once the socket is bound. Accepts websocket upgrades on any
// path (so ws://127.0.0.1:<port>/api/v1/sync?token=x works too; the token is ignored).
// Environment:
//   SHARE_POLICY=all        announce every document to every peer (default, what the brief asks)
//   SHARE_POLICY=requested  only sync documents a peer asked for or sent (what the published
//                           @automerge/automerge-repo-sync-server does: sharePolicy = false)
//   SERVER_PEER_ID          peer id the server announces (default "node-sync-server")
//   STORAGE=memory|none     in-memory storage adapter (default; gives the server a storageId)
//                           or no storage at all (server announces isEphemeral: true)
//   DEBUG=automerge-repo:*,WebsocketServer   library debug logs on stderr
import http from "node:http"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { MemoryStorage } from "./memory-storage.mjs"


const port = Number(process.argv[2] ?? process.env.PORT ?? 0)
const sharePolicyName = process.env.SHARE_POLICY ?? "all"
if (!["all", "requested"].includes(sharePolicyName)) {
  console.error(`SHARE_POLICY must be "all" or "requested", not ${sharePolicyName}`)
  process.exit(2)
}
const storageName = process.env.STORAGE ?? "memory"

const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain" })
  res.end("automerge-repo reference sync server\n")
})
const wss = new WebSocketServer({ server })

const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: storageName === "none" ? undefined : new MemoryStorage(),
  peerId: process.env.SERVER_PEER_ID ?? "node-sync-server",
  sharePolicy: async () => sharePolicyName === "all",
})

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`)
})

const shutdown = () => {
  for (const c of wss.clients) c.terminate()
  wss.close()
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 500).unref()
}
process.on("SIGTERM", shutdown)
// Under a heavy load the library's own 60 s wait for a document can reject with nobody to catch
// it, which would end the process and the run with it; say so on stderr (the benchmark prints
// it) and keep serving the other documents.
process.on("unhandledRejection", (e) => console.error("unhandled rejection:", e?.message ?? e))
process.on("SIGINT", shutdown)
// Keep a reference so the repo is not collected; handy when poking at it with --inspect.
globalThis.__repo = repo
