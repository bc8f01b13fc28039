// Sync benchmark driver for scripts/bench/sync: stock automerge-repo clients (Repo +
// WebSocketClientAdapter, no storage) against a server that already holds the documents, as
// phones against gridwing: a client only finds documents, it never creates them. Every command
// prints one JSON line on stdout ({"ok":true,...} or {"ok":false,"error"}; exit 1 then).
//
//   node bench-sync.mjs tasks <http-base> --count N --out URLS [--parallel 16]
//        gridwing only: logs in the demo admin and grid worker, makes an events:write API key and
//        posts N events at building QSH-B0001 (grid QSH-G001), one task each; writes the tasks'
//        document URLs to URLS, one a line.
//   node bench-sync.mjs first-sync <ws-url> --urls URLS [--save DOCS.jsonl] [--pid PID]
//        a new phone: connects and finds every URL at once; seconds until all are ready, and the
//        websocket payload bytes each way (counted in the adapter: every frame's bytes, frame
//        headers and the HTTP upgrade not included; counting stops once the socket was quiet for
//        300 ms after the last find resolved). --save writes each document (Automerge.save);
//        --pid: also the server's CPU seconds until all were ready.
//   node bench-sync.mjs seed <ws-url> --from DOCS.jsonl --out URLS [--offset O --count M]
//        for the reference server: imports each saved document under a new id, waits until the
//        server has all of it, writes the new URLs (the server must keep them: STORAGE=memory).
//        With --offset/--count: saved documents O, O+1, ... O+M-1, round the list as often as
//        needed (copies under new ids), so several seeders can make a larger pool side by side.
//   node bench-sync.mjs idle <ws-url> --clients N --pid PID [--urls URLS --docs-each 0|1]
//        [--procs P] [--settle-ms 1000] [--hold-ms 3000]
//        N connections that join (and find one document each with --docs-each 1) and stay idle;
//        the server's VmRSS (/proc/PID/status) before (after settle-ms of quiet) and hold-ms after
//        the last joined: bytes per connection (negative if the server gave memory back).
//        --plain 1: plain websockets that open and say nothing (answering pings), for a URL that
//        is not a sync endpoint (gridwing's live feed, a bare websocket server).
//   node bench-sync.mjs load <ws-url> --urls URLS --clients N --docs D --changes K --pid PID
//        [--procs P] [--find-parallel 1]
//        N clients connected at once; client i finds documents (i*D + j) mod pool, j < D (at most
//        --find-parallel at a time per client: the stock client marks a find that took 60 s
//        unavailable, and N*D requests at once can take a server longer than that), then
//        all make K changes to each of them (change k of doc j: an updateText of on_site_note
//        when i+j+k is even, else a push to photos: of --photo, a photo the phone's user
//        uploaded, or without it a made-up name, which gridwing refuses). Done when the server has
//        acknowledged every client's last change of every doc (its heads, as the client last
//        heard them, include that change). changes/s = N*D*K / time from the first change to
//        the last acknowledgement; the server's RSS before, after connecting, at its peak while
//        changing and after; its CPU time while changing.
//
// Common flags: --timeout-ms (per phase, default 120000). Clients are
// split over --procs Node processes (child_process.fork; default 1) so they get both cores.
// Peer ids are unique per run. Uncaught client errors (the adapter throws on a refused upgrade
// or a reset socket), socket closes and `error` messages from the server are counted and
// reported as `uncaught`, `closes` and `server_errors`; a run with closes is still reported,
// the caller decides. One deviation from the stock client: a message sent while the socket is
// closing is dropped (counted as `dropped`) instead of thrown; see CountingAdapter.send.
import { fork } from "node:child_process"
import fs from "node:fs"
import { fileURLToPath } from "node:url"
import { format } from "node:util"
import { Repo, parseAutomergeUrl, generateAutomergeUrl, cbor } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { next as A } from "@automerge/automerge"
import WebSocket from "isomorphic-ws"

for (const k of ["log", "info", "warn", "debug"]) {
  console[k] = (...args) => process.stderr.write(`[console.${k}] ${format(...args).slice(0, 2000)}\n`)
}
const uncaught = []
process.on("uncaughtException", e => {
  uncaught.push(String(e?.message ?? e))
  if (uncaught.length <= 5) process.stderr.write(`[uncaught] ${e?.stack ?? e}\n`)
})
process.on("unhandledRejection", e => {
  uncaught.push(String(e?.message ?? e))
  if (uncaught.length <= 5) process.stderr.write(`[unhandled rejection] ${e?.stack ?? e}\n`)
})

// ---- arguments ---------------------------------------------------------------------------------
const argv = process.argv.slice(2)
const flags = {}
const positional = []
for (let i = 0; i < argv.length; i++) {
  if (argv[i].startsWith("--")) flags[argv[i].slice(2)] = argv[++i]
  else positional.push(argv[i])
}
const [cmd, target] = positional
const num = (name, dflt) => (flags[name] === undefined ? dflt : Number(flags[name]))
const timeoutMs = num("timeout-ms", 120000)
const run = `${process.pid}-${Math.random().toString(36).slice(2, 6)}`
const out = o => process.stdout.write(JSON.stringify(o) + "\n")
const sleep = ms => new Promise(r => setTimeout(r, ms))
const readLines = f =>
  fs
    .readFileSync(f, "utf8")
    .split("\n")
    .filter(l => l.trim())

// ---- server process figures ---------------------------------------------------------------------
function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  if (!m) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1])
}
// utime + stime of the process, in seconds (/proc reports USER_HZ = 100 ticks a second).
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(f[11]) + Number(f[12])) / 100
}

// ---- a client ------------------------------------------------------------------------------------
const newStats = () => ({ bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, closes: 0, dropped: 0, lastFrame: 0, serverErrors: {} })
// "type" "error" as CBOR text strings, next to each other in every encoder's error message.
const ERROR_MARK = Buffer.from("6474797065656572726f72", "hex")

/** The stock adapter, counting every frame's payload each way and every close. */
class CountingAdapter extends WebSocketClientAdapter {
  constructor(url, retryMs, stats) {
    super(url, retryMs)
    this.stats = stats
    const onClose = this.onClose
    this.onClose = (...a) => {
      stats.closes++
      return onClose(...a)
    }
  }
  connect(peerId, peerMetadata) {
    super.connect(peerId, peerMetadata)
    const socket = this.socket
    const send = socket.send.bind(socket)
    const stats = this.stats
    socket.send = (data, ...rest) => {
      stats.bytesOut += data.byteLength
      stats.framesOut++
      stats.lastFrame = Date.now()
      return send(data, ...rest)
    }
  }
  // The stock adapter throws when asked to send on a socket that is closing. That throw happens
  // inside DocHandle.update, after Automerge.receiveSyncMessage consumed the document, and leaves
  // the handle holding a consumed document: every later message for it fails with "Attempting to
  // change an outdated document" (automerge-repo 2.5.6), so the document never syncs again. Such
  // a message is dropped here instead (and counted); the reconnect syncs the document afresh.
  send(message) {
    if (this.socket && this.socket.readyState !== 1) {
      this.stats.dropped++
      return
    }
    return super.send(message)
  }
  receiveMessage(bytes) {
    const s = this.stats
    s.bytesIn += bytes.byteLength
    s.framesIn++
    s.lastFrame = Date.now()
    if (bytes.byteLength < 2048 && Buffer.from(bytes).indexOf(ERROR_MARK) >= 0) {
      try {
        const m = cbor.decode(new Uint8Array(bytes))
        if (m?.type === "error") s.serverErrors[m.message] = (s.serverErrors[m.message] ?? 0) + 1
      } catch {}
    }
    return super.receiveMessage(bytes)
  }
}

function makeClient(url, peerId, stats, deadline) {
  const adapter = new CountingAdapter(url, 5000, stats)
  const repo = new Repo({ network: [adapter], peerId, sharePolicy: async () => true })
  const c = { repo, adapter, theirHeads: new Map(), onHeads: null, refused: 0 }
  repo.synchronizer.on("sync-state", ({ documentId, syncState }) => {
    if (!syncState.theirHeads) return
    c.theirHeads.set(documentId, syncState.theirHeads)
    c.onHeads?.(documentId)
  })
  c.ready = new Promise((resolve, reject) => {
    adapter.on("peer-candidate", () => resolve())
    setTimeout(() => reject(new Error(`${peerId}: no peer message in time`)), Math.max(0, deadline - Date.now())).unref()
  })
  return c
}

const findSignal = deadline => AbortSignal.timeout(Math.max(1, deadline - Date.now()))
const close = clients => {
  for (const c of clients) {
    try {
      c.adapter.disconnect()
    } catch {}
  }
}
const statsOut = s => ({
  bytes_in: s.bytesIn,
  bytes_out: s.bytesOut,
  frames_in: s.framesIn,
  frames_out: s.framesOut,
  closes: s.closes,
  dropped: s.dropped,
  server_errors: s.serverErrors,
  uncaught: uncaught.length,
  uncaught_first: uncaught.slice(0, 3),
})

// ---- tasks: create task documents on gridwing --------------------------------------------------
async function cmdTasks() {
  const base = target.replace(/\/$/, "")
  const count = num("count", 1000)
  const parallel = num("parallel", 16)
  const password = process.env.DEMO_PASSWORD ?? "gridwing2026"
  const call = async (method, path, body, headers = {}) => {
    const r = await fetch(base + path, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`)
    return JSON.parse(text)
  }
  const login = async phone => (await call("POST", "/api/v1/auth/login", { phone, password })).access_token
  const admin = await login(process.env.ADMIN_PHONE ?? "13800000001")
  const worker = await login(process.env.WORKER_PHONE ?? "13800000003")
  const { key } = await call("POST", "/api/v1/api-keys", { name: "压测 同步", scopes: ["events:write"] }, { authorization: `Bearer ${admin}` })
  const building = await call("GET", "/api/v1/buildings/QSH-B0001", undefined, { authorization: `Bearer ${worker}` })
  if (typeof building.lat !== "number" || typeof building.lng !== "number") throw new Error(`building without lat/lng: ${JSON.stringify(building).slice(0, 300)}`)
  const urls = new Array(count)
  let next = 0
  const t0 = Date.now()
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let n = next++; n < count; n = next++) {
        const r = await call(
          "POST",
          "/api/v1/events",
          { category: "environment.garbage", description: `压测 楼道堆物 ${n}`, lat: building.lat, lng: building.lng },
          { "x-api-key": key, "idempotency-key": `bench-sync-${run}-${n}` },
        )
        const u = r?.task?.document_url
        if (typeof u !== "string" || !u.startsWith("automerge:")) throw new Error(`event ${n}: no task.document_url in ${JSON.stringify(r).slice(0, 300)}`)
        urls[n] = u
      }
    }),
  )
  const ms = Date.now() - t0
  fs.writeFileSync(flags.out, urls.join("\n") + "\n")
  out({ ok: true, created: count, elapsed_ms: ms, per_sec: Math.round((count / ms) * 1000) })
}

// ---- first-sync: a new phone finds every document ----------------------------------------------
async function cmdFirstSync() {
  const urls = readLines(flags.urls)
  const deadline = Date.now() + timeoutMs
  const stats = newStats()
  const pid = flags.pid ? Number(flags.pid) : null
  const serverCpu0 = pid ? cpuSeconds(pid) : 0
  const cpu0 = process.cpuUsage()
  const t0 = Date.now()
  const c = makeClient(target, `bench-phone-${run}`, stats, deadline)
  try {
    await c.ready
    const connectMs = Date.now() - t0
    const handles = await Promise.all(urls.map(u => c.repo.find(u, { signal: findSignal(deadline) })))
    const readyMs = Date.now() - t0
    const serverCpu = pid ? cpuSeconds(pid) - serverCpu0 : null
    const cpu = process.cpuUsage(cpu0)
    const atReady = { bytesIn: stats.bytesIn, bytesOut: stats.bytesOut }
    // Let the last replies (acknowledgements, the server's own changes) arrive.
    const quietBy = Date.now() + 10000
    while (Date.now() - stats.lastFrame < 300 && Date.now() < quietBy) await sleep(50)
    const notTasks = handles.filter(h => {
      const d = h.doc()
      return !d || !("on_site_note" in d) || !Array.isArray(d.photos)
    }).length
    if (notTasks) throw new Error(`${notTasks} documents lack on_site_note/photos: not task documents`)
    if (flags.save) {
      fs.writeFileSync(flags.save, handles.map(h => JSON.stringify({ url: h.url, data: Buffer.from(A.save(h.doc())).toString("base64") })).join("\n") + "\n")
    }
    const sample = handles[0].doc()
    out({
      ok: true,
      docs: urls.length,
      connect_ms: connectMs,
      ready_ms: readyMs,
      seconds: readyMs / 1000,
      client_cpu_s: Math.round((cpu.user + cpu.system) / 1e4) / 100,
      server_cpu_s: serverCpu === null ? null : Math.round(serverCpu * 100) / 100,
      bytes_in_at_ready: atReady.bytesIn,
      bytes_out_at_ready: atReady.bytesOut,
      ...statsOut(stats),
      doc_bytes_saved: A.save(sample).byteLength,
      doc_changes: A.getAllChanges(sample).length,
      doc_keys: Object.keys(sample).sort(),
    })
  } finally {
    close([c])
  }
}

// ---- seed: the same documents on the reference server ------------------------------------------
async function cmdSeed() {
  const all = readLines(flags.from).map(l => JSON.parse(l))
  const offset = num("offset", 0)
  const saved = Array.from({ length: num("count", all.length) }, (_, k) => all[(offset + k) % all.length])
  const deadline = Date.now() + timeoutMs
  const stats = newStats()
  const c = makeClient(target, `bench-seeder-${run}`, stats, deadline)
  try {
    await c.ready
    const t0 = Date.now()
    const handles = saved.map(s => {
      const { documentId } = parseAutomergeUrl(generateAutomergeUrl())
      return c.repo.import(new Uint8Array(Buffer.from(s.data, "base64")), { docId: documentId })
    })
    const key = h => [...A.getHeads(h.doc())].sort().join(",")
    const synced = h => [...(c.theirHeads.get(h.documentId) ?? [])].sort().join(",") === key(h)
    while (!handles.every(synced)) {
      if (Date.now() > deadline) throw new Error(`seed: ${handles.filter(h => !synced(h)).length} documents not on the server in time`)
      await sleep(50)
    }
    fs.writeFileSync(flags.out, handles.map(h => h.url).join("\n") + "\n")
    out({ ok: true, docs: handles.length, elapsed_ms: Date.now() - t0, ...statsOut(stats) })
  } finally {
    close([c])
  }
}

// ---- idle and load: a parent and its worker processes ------------------------------------------
// Workers die with their parent: a busy worker may notice the closed IPC channel late.
const children = new Set()
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    for (const c of children) c.kill("SIGKILL")
    process.exit(1)
  })
}
function startWorkers(procs, n, config) {
  const per = Math.ceil(n / procs)
  const workers = []
  for (let p = 0; p < procs && p * per < n; p++) {
    const child = fork(fileURLToPath(import.meta.url), ["worker"], { stdio: ["ignore", "ignore", "inherit", "ipc"] })
    children.add(child)
    const w = { child, messages: [], waiters: [], exited: null }
    child.on("message", m => {
      w.messages.push(m)
      for (const f of w.waiters.splice(0)) f()
    })
    child.on("exit", code => {
      children.delete(child)
      w.exited = code ?? -1
      for (const f of w.waiters.splice(0)) f()
    })
    child.send({ ...config, from: p * per, to: Math.min(n, (p + 1) * per), run: `${run}-${p}` })
    workers.push(w)
  }
  return workers
}
// The next message of type `type` from a worker; fails on an error message, an exit or the deadline.
async function expect(w, type, deadline) {
  for (;;) {
    const i = w.messages.findIndex(m => m.type === type || m.type === "error")
    if (i >= 0) {
      const m = w.messages.splice(i, 1)[0]
      if (m.type === "error") throw new Error(m.error)
      return m
    }
    if (w.exited !== null) throw new Error(`worker exited (${w.exited}) before ${type}`)
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`timeout waiting for workers' ${type}`)
    await new Promise(r => {
      w.waiters.push(r)
      setTimeout(r, Math.min(left, 1000)).unref()
    })
  }
}
async function stopWorkers(workers) {
  for (const w of workers) if (w.exited === null) w.child.send({ type: "quit" })
  const by = Date.now() + 5000
  while (workers.some(w => w.exited === null) && Date.now() < by) await sleep(50)
  for (const w of workers) if (w.exited === null) w.child.kill("SIGKILL")
}
const sumStats = ms => {
  const s = newStats()
  let unc = 0
  const first = []
  for (const m of ms) {
    for (const k of ["bytesIn", "bytesOut", "framesIn", "framesOut", "closes", "dropped"]) s[k] += m.stats[k]
    for (const [e, n] of Object.entries(m.stats.serverErrors)) s.serverErrors[e] = (s.serverErrors[e] ?? 0) + n
    unc += m.uncaught
    first.push(...m.uncaught_first)
  }
  return { ...statsOut(s), uncaught: unc, uncaught_first: first.slice(0, 3) }
}

async function cmdIdle() {
  const pid = Number(flags.pid)
  const n = num("clients", 1000)
  const docsEach = num("docs-each", 0)
  const urls = docsEach ? readLines(flags.urls) : []
  const deadline = Date.now() + timeoutMs
  await sleep(num("settle-ms", 1000))
  const before = rssKb(pid)
  const plain = num("plain", 0) === 1
  const workers = startWorkers(num("procs", 1), n, { type: "idle", url: target, urls, docsEach, plain, timeoutMs })
  try {
    const ready = []
    for (const w of workers) ready.push(await expect(w, "ready", deadline))
    await sleep(num("hold-ms", 3000))
    const after = rssKb(pid)
    const closes = sumStats(await Promise.all(workers.map(w => (w.child.send({ type: "report" }), expect(w, "report", deadline)))))
    out({
      ok: true,
      clients: n,
      docs_each: docsEach,
      connect_ms: Math.max(...ready.map(r => r.connect_ms)),
      rss_before_kb: before,
      rss_after_kb: after,
      bytes_per_conn: Math.round(((after - before) * 1024) / n),
      ...closes,
    })
  } finally {
    await stopWorkers(workers)
  }
}

async function cmdLoad() {
  const pid = Number(flags.pid)
  const n = num("clients", 1000)
  const urls = readLines(flags.urls)
  const config = { type: "load", url: target, urls, docsPerClient: num("docs", 20), changes: num("changes", 1), findParallel: num("find-parallel", 1), photo: flags.photo ?? null, timeoutMs }
  if (config.docsPerClient > urls.length) throw new Error(`--docs ${config.docsPerClient} is more than the ${urls.length} documents`)
  let deadline = Date.now() + timeoutMs
  const rss0 = rssKb(pid)
  const t0 = Date.now()
  const workers = startWorkers(num("procs", 1), n, config)
  let sampler
  try {
    const ready = []
    for (const w of workers) ready.push(await expect(w, "ready", deadline))
    const setupMs = Date.now() - t0
    const rss1 = rssKb(pid)
    let peak = rss1
    sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssKb(pid))
      } catch {}
    }, 100)
    const cpu1 = cpuSeconds(pid)
    deadline = Date.now() + timeoutMs
    const tGo = Date.now()
    for (const w of workers) w.child.send({ type: "go" })
    const done = []
    for (const w of workers) done.push(await expect(w, "done", deadline))
    const tEnd = Math.max(...done.map(d => d.t))
    const cpu2 = cpuSeconds(pid)
    clearInterval(sampler)
    const rss2 = rssKb(pid)
    peak = Math.max(peak, rss2)
    const total = done.reduce((a, d) => a + d.changes, 0)
    const elapsed = Math.max(1, tEnd - tGo)
    out({
      ok: true,
      clients: n,
      docs_per_client: config.docsPerClient,
      changes_per_doc: config.changes,
      pool: urls.length,
      procs: workers.length,
      total_changes: total,
      setup_ms: setupMs,
      connect_ms: Math.max(...ready.map(r => r.connect_ms)),
      elapsed_ms: elapsed,
      changes_per_sec: Math.round((total / elapsed) * 1000 * 10) / 10,
      ack_p50_ms: Math.max(...done.map(d => d.ack_p50_ms)),
      ack_max_ms: Math.max(...done.map(d => d.ack_max_ms)),
      rss_start_kb: rss0,
      rss_connected_kb: rss1,
      rss_peak_kb: peak,
      rss_after_kb: rss2,
      server_cpu_s: Math.round((cpu2 - cpu1) * 100) / 100,
      server_cpu_ms_per_change: Math.round(((cpu2 - cpu1) * 1000 * 1000) / total) / 1000,
      client_cpu_s: Math.round(done.reduce((a, d) => a + d.cpu_s, 0) * 100) / 100,
      refused_notices: done.reduce((a, d) => a + d.refused, 0),
      ...sumStats(done),
    })
  } finally {
    clearInterval(sampler)
    await stopWorkers(workers)
  }
}

// A worker's plain websockets [from, to): open, quiet, closed on "quit".
async function plainIdle(config, stats, send, fail) {
  const sockets = []
  try {
    const t0 = Date.now()
    await Promise.all(
      Array.from({ length: config.to - config.from }, () => {
        const ws = new WebSocket(config.url)
        sockets.push(ws)
        ws.on("close", () => stats.closes++)
        return new Promise((resolve, reject) => {
          ws.once("open", resolve)
          ws.once("error", reject)
          ws.once("unexpected-response", (_, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
        })
      }),
    )
    const handlers = {
      quit: () => {
        for (const ws of sockets) ws.terminate()
        setTimeout(() => process.exit(0), 50)
      },
      report: () => send({ type: "report", stats, uncaught: uncaught.length, uncaught_first: uncaught.slice(0, 3) }),
    }
    process.on("message", m => handlers[m.type]?.())
    send({ type: "ready", connect_ms: Date.now() - t0 })
  } catch (e) {
    fail(e)
  }
}

// A worker: clients [from, to) of the parent's N.
function worker() {
  let clients = []
  const stats = newStats()
  const send = m => process.send?.(m)
  const fail = e => {
    send({ type: "error", error: String(e?.message ?? e) })
    setTimeout(() => process.exit(1), 100)
  }
  process.on("disconnect", () => process.exit(0))
  process.once("message", async config => {
    if (config.plain) return plainIdle(config, stats, send, fail)
    try {
      const deadline = Date.now() + config.timeoutMs
      const t0 = Date.now()
      // Progress on stderr every 5 s, with how late the timer fired (the event loop's lag).
      let tick = Date.now()
      setInterval(() => {
        const lag = Date.now() - tick - 5000
        tick = Date.now()
        const found = clients.reduce((a, c) => a + (c.found ?? 0), 0)
        process.stderr.write(`[worker ${config.run}] ${Math.round((tick - t0) / 1000)} s: found ${found}, acked ${progress.acked}/${progress.made}, closes ${stats.closes}, loop lag ${lag} ms\n`)
      }, 5000).unref()
      for (let i = config.from; i < config.to; i++) {
        const c = makeClient(config.url, `bench-${config.run}-${i}`, stats, deadline)
        c.i = i
        clients.push(c)
      }
      await Promise.all(clients.map(c => c.ready))
      const connectMs = Date.now() - t0
      const pool = config.urls.length
      const perClient = config.type === "idle" ? config.docsEach : config.docsPerClient
      // Each client finds its documents a few at a time: the stock client gives up on a find
      // after 60 s, and a server facing N*D requests at once may not answer the last within that.
      const inFlight = Math.max(1, config.findParallel ?? 1)
      await Promise.all(
        clients.map(async c => {
          const urls = Array.from({ length: perClient }, (_, j) => config.urls[(c.i * perClient + j) % pool])
          c.handles = new Array(perClient)
          let next = 0
          await Promise.all(
            Array.from({ length: inFlight }, async () => {
              for (let j = next++; j < perClient; j = next++) {
                const started = Date.now()
                try {
                  c.handles[j] = await c.repo.find(urls[j], { signal: findSignal(deadline) })
                  c.found = (c.found ?? 0) + 1
                } catch (e) {
                  throw new Error(`client ${c.i}: find of ${urls[j]} failed after ${Date.now() - started} ms (${Date.now() - t0} ms into the run): ${e?.message ?? e}`)
                }
              }
            }),
          )
        }),
      )
      const handlers = { quit: () => (close(clients), setTimeout(() => process.exit(0), 50)) }
      handlers.report = () => send({ type: "report", stats, uncaught: uncaught.length, uncaught_first: uncaught.slice(0, 3) })
      handlers.go = () => changeAll(clients, config, stats, send).catch(fail)
      process.on("message", m => handlers[m.type]?.())
      send({ type: "ready", connect_ms: connectMs, find_ms: Date.now() - t0 - connectMs })
    } catch (e) {
      fail(e)
    }
  })
}

const progress = { made: 0, acked: 0 }
async function changeAll(clients, config, stats, send) {
  const deadline = Date.now() + config.timeoutMs
  const cpu0 = process.cpuUsage()
  const pending = new Map() // `${i} ${documentId}` -> {c, handle, hash, at}
  const acks = []
  let made = 0
  // Acknowledged: the server's heads, as last heard, include our change or a descendant of it.
  // Looked at again only when those heads or our document changed since the last look.
  const acked = p => {
    const th = p.c.theirHeads.get(p.handle.documentId)
    if (!th) return false
    if (th.includes(p.hash)) return true
    const doc = p.handle.doc()
    if (th === p.seenHeads && doc === p.seenDoc) return false
    p.seenHeads = th
    p.seenDoc = doc
    return A.hasHeads(doc, th) && !A.getChangesMetaSince(doc, th).some(m => m.hash === p.hash)
  }
  const check = key => {
    const p = pending.get(key)
    if (p && acked(p)) {
      pending.delete(key)
      acks.push(Date.now() - p.at)
      progress.acked++
    }
  }
  // sync-state is emitted before the handle takes the new document: look a moment later.
  const soon = new Set()
  const later = () => {
    for (const key of soon) check(key)
    soon.clear()
  }
  for (const c of clients) {
    c.onHeads = documentId => {
      if (soon.size === 0) setImmediate(later)
      soon.add(`${c.i} ${documentId}`)
    }
    for (const h of c.handles) h.on("ephemeral-message", ({ message }) => message?.type === "refused" && c.refused++)
  }
  for (let k = 0; k < config.changes; k++) {
    for (const c of clients) {
      c.handles.forEach((h, j) => {
        h.change(d => {
          if ((c.i + j + k) % 2 === 0) {
            if (typeof d.on_site_note === "string") A.updateText(d, ["on_site_note"], `第${k + 1}次到场 客户端${c.i}`)
            else d.on_site_note = `第${k + 1}次到场 客户端${c.i}`
          } else d.photos.push(config.photo ?? `bench/c${c.i}-d${j}-${k}.jpg`)
        })
        made++
        progress.made++
        const heads = A.getHeads(h.doc())
        pending.set(`${c.i} ${h.documentId}`, { c, handle: h, hash: heads[0], at: Date.now() })
      })
      await new Promise(r => setImmediate(r)) // let the sockets breathe between clients
    }
  }
  for (const key of [...pending.keys()]) check(key)
  while (pending.size) {
    if (Date.now() > deadline) throw new Error(`timeout: ${pending.size} of ${made} changes not acknowledged by the server`)
    await sleep(250)
    for (const key of [...pending.keys()]) check(key)
  }
  const t = Date.now()
  const cpu = process.cpuUsage(cpu0)
  acks.sort((a, b) => a - b)
  send({
    type: "done",
    t,
    changes: made,
    ack_p50_ms: acks[Math.floor(acks.length / 2)] ?? 0,
    ack_max_ms: acks[acks.length - 1] ?? 0,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    refused: clients.reduce((a, c) => a + c.refused, 0),
    stats,
    uncaught: uncaught.length,
    uncaught_first: uncaught.slice(0, 3),
  })
}

// ---- main ------------------------------------------------------------------------------------------
const commands = { tasks: cmdTasks, "first-sync": cmdFirstSync, seed: cmdSeed, idle: cmdIdle, load: cmdLoad }
if (cmd === "worker") {
  worker()
} else if (!commands[cmd] || !target) {
  console.error("usage: node bench-sync.mjs tasks|first-sync|seed|idle|load <url> [--flags]; see the header of this file")
  process.exit(2)
} else {
  commands[cmd]()
    .then(() => setTimeout(() => process.exit(0), 50))
    .catch(e => {
      out({ ok: false, cmd, error: String(e?.message ?? e), uncaught: uncaught.length, uncaught_first: uncaught.slice(0, 3) })
      setTimeout(() => process.exit(1), 50)
    })
}
