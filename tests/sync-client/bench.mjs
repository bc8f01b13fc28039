// Load generator: N stock JS clients against one sync server, one JSON line of results.
//
//   node bench.mjs <ws-url> [N=4] [M=5] [K=20] [--mode own|shared] [--timeout-ms 60000]
//
//   own     each client creates M documents and makes K changes to each of them; done when the
//           server has acknowledged every client's heads for every document
//   shared  client 0 creates M documents, every client finds them and makes K changes to each;
//           done when every client sees every client's last change in every document
//
// Output: {"ok":true,"mode","clients","docs","changes_per_doc","total_changes","connect_ms",
//          "elapsed_ms","changes_per_sec"}; changes_per_sec = total_changes / elapsed_ms, where
// elapsed runs from the first change to the moment everything is synced. All traffic goes to
// the given url only; the run stops by itself at --timeout-ms (ok:false then).
// Against node-server.mjs use SHARE_POLICY=requested, or every new document is also pushed to
// every connected client (the reference server's "share everything" behaviour).
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { next as A } from "@automerge/automerge"

for (const k of ["log", "info", "warn", "debug"]) {
  console[k] = (...args) => process.stderr.write(`[console.${k}] ${args.map(String).join(" ")}\n`)
}

const args = process.argv.slice(2)
const flag = (name, dflt) => {
  const i = args.indexOf(name)
  if (i < 0) return dflt
  const v = args[i + 1]
  args.splice(i, 2)
  return v
}
const mode = flag("--mode", "own")
const timeoutMs = Number(flag("--timeout-ms", 60000))
const [url, N = "4", M = "5", K = "20"] = args
if (!url || !["own", "shared"].includes(mode)) {
  console.error("usage: node bench.mjs <ws-url> [N] [M] [K] [--mode own|shared] [--timeout-ms ms]")
  process.exit(2)
}
const [n, m, k] = [Number(N), Number(M), Number(K)]
const sleep = ms => new Promise(r => setTimeout(r, ms))
const deadline = Date.now() + timeoutMs
const out = o => process.stdout.write(JSON.stringify(o) + "\n")
const run = `${process.pid}-${Math.random().toString(36).slice(2, 6)}`

function makeClient(i) {
  const adapter = new WebSocketClientAdapter(url)
  const repo = new Repo({ network: [adapter], peerId: `bench-${run}-${i}`, sharePolicy: async () => true })
  const c = { i, repo, adapter, server: null, theirHeads: new Map(), handles: [] }
  repo.synchronizer.on("sync-state", ({ peerId, syncState, documentId }) => {
    if (syncState.theirHeads) c.theirHeads.set(`${documentId} ${peerId}`, [...syncState.theirHeads].sort().join(","))
  })
  c.ready = new Promise((resolve, reject) => {
    adapter.on("peer-candidate", ({ peerId }) => {
      c.server = peerId
      resolve()
    })
    setTimeout(() => reject(new Error(`client ${i}: no peer message within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now())).unref()
  })
  return c
}

async function until(pred, what) {
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`)
    await sleep(10)
  }
}

const serverHasHeads = (c, h) =>
  c.theirHeads.get(`${h.documentId} ${c.server}`) === [...A.getHeads(h.doc())].sort().join(",")

let clients = []
try {
  const t0 = Date.now()
  clients = Array.from({ length: n }, (_, i) => makeClient(i))
  await Promise.all(clients.map(c => c.ready))
  const connectMs = Date.now() - t0

  if (mode === "own") {
    for (const c of clients) for (let d = 0; d < m; d++) c.handles.push(c.repo.create({ n: 0, label: `c${c.i}d${d}` }))
  } else {
    const first = clients[0]
    for (let d = 0; d < m; d++) first.handles.push(first.repo.create({ label: `shared${d}` }))
    await until(() => first.handles.every(h => serverHasHeads(first, h)), "documents to reach the server")
    await Promise.all(
      clients.slice(1).map(async c => {
        for (const h of first.handles) c.handles.push(await c.repo.find(h.url, { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) }))
      }),
    )
  }

  const t1 = Date.now()
  for (let step = 1; step <= k; step++) {
    for (const c of clients) {
      for (const h of c.handles) {
        h.change(d => {
          if (mode === "own") d.n = step
          else d[`c${c.i}`] = step
        })
      }
    }
    await sleep(0) // let sockets breathe between rounds
  }
  if (mode === "own") {
    await until(() => clients.every(c => c.handles.every(h => serverHasHeads(c, h))), "the server to acknowledge all heads")
  } else {
    await until(
      () => clients.every(c => c.handles.every(h => clients.every(o => h.doc()[`c${o.i}`] === k))),
      "every client to see every change",
    )
  }
  const elapsed = Date.now() - t1
  const total = mode === "own" ? n * m * k : n * m * k
  out({
    ok: true,
    mode,
    url: url.replace(/token=[^&]*/, "token=…"),
    clients: n,
    docs: mode === "own" ? n * m : m,
    changes_per_doc: mode === "own" ? k : n * k,
    total_changes: total,
    connect_ms: connectMs,
    elapsed_ms: elapsed,
    changes_per_sec: Math.round((total / Math.max(1, elapsed)) * 1000 * 10) / 10,
  })
} catch (e) {
  out({ ok: false, error: String(e?.message ?? e), mode, clients: n })
  process.exitCode = 1
} finally {
  for (const c of clients) {
    try {
      c.adapter.disconnect()
    } catch {}
  }
  setTimeout(() => process.exit(), 50)
}
