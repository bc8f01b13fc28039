// Scriptable automerge-repo client: JSON lines in on stdin, exactly one JSON line out per command.
//
//   node client.mjs [--peer-id ID] [--storage memory|none] [--retry-ms N]
//
// It drives the stock JS client (Repo + WebSocketClientAdapter from npm), unchanged, so a Rust test
// can check that its sync endpoint speaks the protocol that real clients speak. Commands run one
// at a time in the order given; every answer has `ok` (and `error` when ok is false) and echoes
// the command's `id` if it had one. Nothing else is ever written to stdout: library chatter that
// uses console.log is sent to stderr.
//
// Commands (see README.md for examples):
//   {"cmd":"connect","url":"ws://host/api/v1/sync?token=t","peer_id":"a","timeout_ms":5000}
//   {"cmd":"create","doc":{...}}                          -> {"ok":true,"url":"automerge:..."}
//   {"cmd":"find","url":"automerge:...","timeout_ms":10000} -> {"ok":true,"doc":{...},"heads":[..]}
//   {"cmd":"change","url":"...","set":{"path":["a","b"],"value":1}}   (set may be a list)
//        also "delete":{"path":[...]} and "update_text":{"path":[...],"value":"..."}
//   {"cmd":"doc","url":"..."}                             local state, no network wait
//   {"cmd":"wait","url":"...","until":{"path":[...],"equals":...},"timeout_ms":5000}
//        (until may be a list; all must hold)
//   {"cmd":"synced","url":"...","timeout_ms":5000}        server's last-known heads == ours
//   {"cmd":"offline"}  {"cmd":"online","timeout_ms":5000,"mode":"adapter"|"subsystem"}
//   {"cmd":"broadcast","url":"...","message":{...}}       ephemeral message
//   {"cmd":"ephemeral","url":"..."}                       ephemeral messages received so far
//   {"cmd":"status"}  {"cmd":"quit"}
import readline from "node:readline"
import { Repo, isValidAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { next as A } from "@automerge/automerge"
import { MemoryStorage } from "./memory-storage.mjs"

// ---- keep stdout for our protocol only ---------------------------------------------------------
const out = line => process.stdout.write(JSON.stringify(line) + "\n")
for (const k of ["log", "info", "warn", "debug"]) {
  console[k] = (...args) => process.stderr.write(`[console.${k}] ${args.map(String).join(" ")}\n`)
}

// ---- options --------------------------------------------------------------------------------
const argv = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = argv.indexOf(name)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt
}
const options = {
  peerId: opt("--peer-id", process.env.CLIENT_PEER_ID),
  storage: opt("--storage", process.env.CLIENT_STORAGE ?? "memory"),
  retryMs: Number(opt("--retry-ms", process.env.CLIENT_RETRY_MS ?? 5000)),
}


// ---- state ------------------------------------------------------------------------------------
const state = {
  repo: null,
  adapter: null,
  url: null,
  offline: false,
  connected: false,
  serverPeerId: null,
  serverMetadata: null,
  joinMetadata: null, // the peerMetadata of our first join, reused by "online"
  errors: [], // uncaught errors (e.g. the adapter throws on a refused upgrade under Node)
  theirHeads: new Map(), // documentId -> Map(peerId -> hex heads the peer last told us)
  ephemeral: new Map(), // documentId -> [{senderId, message}]
  watched: new Set(),
  peerWaiters: [],
}

process.on("uncaughtException", e => {
  state.errors.push(String(e?.message ?? e))
  process.stderr.write(`[uncaught] ${e?.stack ?? e}\n`)
})
process.on("unhandledRejection", e => {
  state.errors.push(String(e?.message ?? e))
  process.stderr.write(`[unhandled rejection] ${e?.stack ?? e}\n`)
})

function ensureRepo(peerId) {
  if (state.repo) {
    if (peerId && peerId !== state.repo.peerId) {
      throw new Error(`repo already exists with peer id ${state.repo.peerId}; pass peer_id on the first command or --peer-id`)
    }
    return state.repo
  }
  const id = peerId ?? options.peerId ?? `client-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  state.repo = new Repo({
    network: [],
    peerId: id,
    storage: options.storage === "none" ? undefined : new MemoryStorage(),
    sharePolicy: async () => true,
  })
  state.repo.synchronizer.on("sync-state", ({ peerId, syncState, documentId }) => {
    if (!syncState.theirHeads) return
    let m = state.theirHeads.get(documentId)
    if (!m) state.theirHeads.set(documentId, (m = new Map()))
    m.set(peerId, [...syncState.theirHeads].sort())
  })
  return state.repo
}

function watch(handle) {
  if (state.watched.has(handle.documentId)) return
  state.watched.add(handle.documentId)
  handle.on("ephemeral-message", ({ senderId, message }) => {
    let l = state.ephemeral.get(handle.documentId)
    if (!l) state.ephemeral.set(handle.documentId, (l = []))
    l.push({ senderId, message: toJSON(message) })
  })
}

// ---- helpers ------------------------------------------------------------------------------------
const sleep = ms => new Promise(r => setTimeout(r, ms))
const toJSON = v => (v === undefined ? null : JSON.parse(JSON.stringify(v)))
const hexHeads = doc => [...A.getHeads(doc)].sort()

function docInfo(handle) {
  const doc = handle.doc()
  return { doc: toJSON(doc), heads: hexHeads(doc), url_heads: handle.heads() }
}

function getPath(obj, path) {
  let o = obj
  for (const k of path) {
    if (o === undefined || o === null) return undefined
    o = o[k]
  }
  return o
}

function requireUrl(c) {
  if (!isValidAutomergeUrl(c.url)) throw new Error(`invalid automerge url: ${c.url}`)
  return c.url
}

function localHandle(url) {
  const { documentId } = parseAutomergeUrl(url)
  return state.repo?.handles[documentId]
}

async function findHandle(url, timeoutMs) {
  const repo = ensureRepo()
  const h = localHandle(url)
  if (h && h.isReady()) return h
  try {
    const handle = await repo.find(url, { signal: AbortSignal.timeout(timeoutMs) })
    watch(handle)
    return handle
  } catch (e) {
    const msg = String(e?.message ?? e)
    if (e?.name === "AbortError" || e?.name === "TimeoutError" || /abort/i.test(msg)) {
      throw new Error(`timeout: document not ready after ${timeoutMs} ms`)
    }
    if (/unavailable/i.test(msg)) throw new Error(`unavailable: ${msg}`)
    throw e
  }
}

function waitForPeer(timeoutMs) {
  if (state.connected) return Promise.resolve(true)
  return new Promise(resolve => {
    const w = ok => {
      clearTimeout(t)
      resolve(ok)
    }
    const t = setTimeout(() => {
      state.peerWaiters = state.peerWaiters.filter(x => x !== w)
      resolve(false)
    }, timeoutMs)
    state.peerWaiters.push(w)
  })
}

function attachAdapter(url, retryMs) {
  const adapter = new WebSocketClientAdapter(url, retryMs)
  // "offline" must really stay offline: the adapter reconnects from a setInterval and from a
  // setTimeout armed in its close handler, both through this.connect, so gate that.
  const realConnect = adapter.connect.bind(adapter)
  adapter.connect = (peerId, peerMetadata) => {
    if (state.offline) return
    realConnect(peerId, peerMetadata)
    if (!state.joinMetadata && adapter.peerMetadata) state.joinMetadata = adapter.peerMetadata
  }
  adapter.on("peer-candidate", ({ peerId, peerMetadata }) => {
    state.connected = true
    state.serverPeerId = peerId
    state.serverMetadata = peerMetadata ?? null
    for (const w of state.peerWaiters.splice(0)) w(true)
  })
  adapter.on("peer-disconnected", () => {
    state.connected = false
  })
  state.adapter = adapter
  state.url = url
  state.repo.networkSubsystem.addNetworkAdapter(adapter)
}

function applySet(d, path, value) {
  if (!Array.isArray(path) || path.length === 0) throw new Error("set.path must be a non-empty array")
  let o = d
  for (const k of path.slice(0, -1)) {
    if (o[k] === undefined || o[k] === null) o[k] = typeof k === "number" ? [] : {}
    o = o[k]
  }
  o[path[path.length - 1]] = value
}

function applyDelete(d, path) {
  const parent = getPath(d, path.slice(0, -1))
  const last = path[path.length - 1]
  if (Array.isArray(parent)) parent.splice(last, 1)
  else if (parent) delete parent[last]
}

const asList = v => (v === undefined ? [] : Array.isArray(v) ? v : [v])

function conditionsHold(doc, until) {
  return asList(until).every(u => {
    const v = toJSON(getPath(doc, u.path ?? []))
    if ("equals" in u) return JSON.stringify(v) === JSON.stringify(u.equals)
    if ("exists" in u) return (v !== null) === Boolean(u.exists)
    throw new Error("until needs `equals` or `exists`")
  })
}

// ---- commands -------------------------------------------------------------------------------
const commands = {
  async connect(c) {
    if (!c.url) throw new Error("connect needs url")
    ensureRepo(c.peer_id)
    if (state.adapter) throw new Error(`already connected to ${state.url}; use offline/online`)
    state.offline = false
    attachAdapter(c.url, c.retry_ms ?? options.retryMs)
    const ok = await waitForPeer(c.timeout_ms ?? 5000)
    if (!ok) {
      return { ok: false, error: "timeout waiting for the server's peer message", peer_id: state.repo.peerId, errors: state.errors }
    }
    return { ok: true, peer_id: state.repo.peerId, server_peer_id: state.serverPeerId, server_metadata: state.serverMetadata }
  },

  async create(c) {
    const repo = ensureRepo(c.peer_id)
    const handle = repo.create(c.doc ?? {})
    watch(handle)
    return { ok: true, url: handle.url, documentId: handle.documentId, heads: hexHeads(handle.doc()) }
  },

  async find(c) {
    const handle = await findHandle(requireUrl(c), c.timeout_ms ?? 10000)
    return { ok: true, ...docInfo(handle) }
  },

  async doc(c) {
    requireUrl(c)
    const h = localHandle(c.url)
    if (!h) return { ok: false, error: "unknown: no local handle for this document", state: null }
    if (!h.isReady()) return { ok: false, error: `not ready: handle is ${h.state}`, state: h.state }
    return { ok: true, state: h.state, ...docInfo(h) }
  },

  async change(c) {
    const handle = await findHandle(requireUrl(c), c.timeout_ms ?? 10000)
    const sets = asList(c.set)
    const dels = asList(c.delete)
    const texts = asList(c.update_text)
    if (!sets.length && !dels.length && !texts.length) throw new Error("change needs set, delete or update_text")
    handle.change(d => {
      for (const s of sets) applySet(d, s.path, s.value)
      for (const t of texts) {
        // updateText needs an existing text object; a plain string assignment creates one.
        if (typeof getPath(d, t.path) !== "string") applySet(d, t.path, "")
        A.updateText(d, t.path, String(t.value))
      }
      for (const x of dels) applyDelete(d, x.path)
    }, c.message ? { message: c.message } : {})
    return { ok: true, ...docInfo(handle) }
  },

  async wait(c) {
    const timeoutMs = c.timeout_ms ?? 5000
    const deadline = Date.now() + timeoutMs
    const handle = await findHandle(requireUrl(c), timeoutMs)
    for (;;) {
      if (conditionsHold(handle.doc(), c.until)) return { ok: true, ...docInfo(handle) }
      if (Date.now() >= deadline) return { ok: false, error: `timeout after ${timeoutMs} ms`, ...docInfo(handle) }
      await sleep(20)
    }
  },

  async synced(c) {
    const timeoutMs = c.timeout_ms ?? 5000
    const deadline = Date.now() + timeoutMs
    const handle = await findHandle(requireUrl(c), timeoutMs)
    for (;;) {
      const ours = hexHeads(handle.doc())
      const theirs = state.theirHeads.get(handle.documentId)?.get(state.serverPeerId)
      if (state.connected && theirs && JSON.stringify(theirs) === JSON.stringify(ours)) {
        return { ok: true, heads: ours }
      }
      if (Date.now() >= deadline) {
        return { ok: false, error: `timeout after ${timeoutMs} ms`, heads: ours, server_heads: theirs ?? null, connected: state.connected }
      }
      await sleep(20)
    }
  },

  async offline() {
    if (!state.adapter) throw new Error("not connected")
    if (state.offline) return { ok: true, already: true }
    state.offline = true
    if (state.adapter.socket) state.adapter.disconnect()
    state.connected = false
    return { ok: true }
  },

  async online(c) {
    if (!state.adapter) throw new Error("not connected")
    if (!state.offline && state.connected) return { ok: true, already: true, server_peer_id: state.serverPeerId }
    state.offline = false
    if (c.mode === "subsystem") {
      // What an app calling repo.networkSubsystem.reconnect() gets: connect(peerId) without
      // metadata, so this join carries peerMetadata {} (no storageId, no isEphemeral).
      state.repo.networkSubsystem.reconnect()
    } else {
      state.adapter.connect(state.repo.peerId, state.joinMetadata ?? {})
    }
    const ok = await waitForPeer(c.timeout_ms ?? 5000)
    if (!ok) return { ok: false, error: "timeout waiting for the server's peer message", errors: state.errors }
    return { ok: true, server_peer_id: state.serverPeerId }
  },

  async broadcast(c) {
    const handle = await findHandle(requireUrl(c), c.timeout_ms ?? 10000)
    handle.broadcast(c.message ?? null)
    return { ok: true }
  },

  async ephemeral(c) {
    const { documentId } = parseAutomergeUrl(requireUrl(c))
    return { ok: true, messages: state.ephemeral.get(documentId) ?? [] }
  },

  async status() {
    const repo = state.repo
    return {
      ok: true,
      peer_id: repo?.peerId ?? null,
      url: state.url,
      connected: state.connected,
      offline: state.offline,
      server_peer_id: state.serverPeerId,
      server_metadata: state.serverMetadata,
      join_metadata: state.joinMetadata,
      peers: repo?.peers ?? [],
      documents: repo ? Object.keys(repo.handles).length : 0,
      errors: state.errors,
    }
  },

  async quit() {
    return { ok: true }
  },
}

async function handleLine(line) {
  if (!line.trim()) return
  let c
  try {
    c = JSON.parse(line)
  } catch (e) {
    out({ ok: false, error: `bad json: ${e.message}` })
    return
  }
  const withId = r => (c && c.id !== undefined ? { id: c.id, ...r } : r)
  const fn = commands[c?.cmd]
  if (!fn) {
    out(withId({ ok: false, error: `unknown cmd: ${c?.cmd}` }))
    return
  }
  try {
    out(withId(await fn(c)))
  } catch (e) {
    out(withId({ ok: false, error: String(e?.message ?? e) }))
  }
  if (c.cmd === "quit") await shutdown(0)
}

async function shutdown(code) {
  try {
    state.offline = true
    if (state.adapter?.socket) state.adapter.disconnect()
  } catch {}
  await sleep(20)
  process.exit(code)
}

// Process commands strictly one after another.
const rl = readline.createInterface({ input: process.stdin, terminal: false })
let chain = Promise.resolve()
rl.on("line", line => {
  chain = chain.then(() => handleLine(line))
})
rl.on("close", () => {
  chain.then(() => shutdown(0))
})
