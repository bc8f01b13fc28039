#!/usr/bin/env bash
# Smoke test of offline edits merging through a sync server, with two stock JS clients.
#
#   bash smoke.sh                       # starts node-server.mjs on a free port and uses it
#   SYNC_URL='ws://127.0.0.1:8080/api/v1/sync?token=T' bash smoke.sh    # any other server
#   SYNC_URL_B='...'                    # optional: a different url (e.g. another token) for B
#
# A creates {title:"楼道堆物", notes:""}, B finds it, both go offline, A sets title, B sets notes,
# both go online, and both must see both edits. Prints PASS or FAIL (exit 0 / 1).
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  exit 1
}

url="${SYNC_URL:-}"
if [ -z "$url" ]; then
  node node-server.mjs 0 >"$tmp/server.out" 2>"$tmp/server.err" &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^listening ' "$tmp/server.out" 2>/dev/null && break; sleep 0.05; done
  port=$(awk '/^listening /{print $2; exit}' "$tmp/server.out")
  [ -n "$port" ] || fail "node-server.mjs did not start"
  url="ws://127.0.0.1:$port/api/v1/sync?token=smoke"
fi
url_b="${SYNC_URL_B:-$url}"

# start_client NAME WRITE_FD READ_FD: a client.mjs fed from a fifo, answering into another fifo
start_client() {
  local name=$1
  mkfifo "$tmp/$name.in" "$tmp/$name.out"
  node client.mjs --peer-id "smoke-$name-$$" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
}
start_client A
exec 3>"$tmp/A.in" 4<"$tmp/A.out"
start_client B
exec 5>"$tmp/B.in" 6<"$tmp/B.out"

# send WFD RFD JSON -> prints the one answer line (fails after 30 s without one)
send() {
  local line
  echo "$3" >&"$1"
  IFS= read -r -t 30 line <&"$2" || fail "no answer to $3"
  echo "$line"
}
# field JSON_LINE KEY -> value of a top-level key (strings unquoted)
field() {
  node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; process.stdout.write(typeof v === "string" ? v : JSON.stringify(v ?? null))' "$1" "$2"
}
expect_ok() {
  [ "$(field "$2" ok)" = "true" ] || fail "$1: $2"
}

TITLE="楼道堆物（已清理）"
NOTES="三楼东侧，周五前处理"

r=$(send 3 4 "{\"cmd\":\"connect\",\"url\":\"$url\"}"); expect_ok "A connect" "$r"
r=$(send 3 4 '{"cmd":"create","doc":{"title":"楼道堆物","notes":""}}'); expect_ok "A create" "$r"
doc=$(field "$r" url)
r=$(send 3 4 "{\"cmd\":\"synced\",\"url\":\"$doc\",\"timeout_ms\":10000}"); expect_ok "A synced after create" "$r"

r=$(send 5 6 "{\"cmd\":\"connect\",\"url\":\"$url_b\"}"); expect_ok "B connect" "$r"
r=$(send 5 6 "{\"cmd\":\"find\",\"url\":\"$doc\",\"timeout_ms\":10000}"); expect_ok "B find" "$r"
[ "$(node -e 'console.log(JSON.parse(process.argv[1]).doc.title)' "$r")" = "楼道堆物" ] || fail "B sees wrong doc: $r"

r=$(send 3 4 '{"cmd":"offline"}'); expect_ok "A offline" "$r"
r=$(send 5 6 '{"cmd":"offline"}'); expect_ok "B offline" "$r"
r=$(send 3 4 "{\"cmd\":\"change\",\"url\":\"$doc\",\"set\":{\"path\":[\"title\"],\"value\":\"$TITLE\"}}"); expect_ok "A change" "$r"
r=$(send 5 6 "{\"cmd\":\"change\",\"url\":\"$doc\",\"set\":{\"path\":[\"notes\"],\"value\":\"$NOTES\"}}"); expect_ok "B change" "$r"
# While offline neither may see the other's edit.
r=$(send 3 4 "{\"cmd\":\"wait\",\"url\":\"$doc\",\"until\":{\"path\":[\"notes\"],\"equals\":\"$NOTES\"},\"timeout_ms\":300}")
[ "$(field "$r" ok)" = "false" ] || fail "A saw B's edit while both were offline: $r"

r=$(send 3 4 '{"cmd":"online"}'); expect_ok "A online" "$r"
r=$(send 5 6 '{"cmd":"online"}'); expect_ok "B online" "$r"

until="[{\"path\":[\"title\"],\"equals\":\"$TITLE\"},{\"path\":[\"notes\"],\"equals\":\"$NOTES\"}]"
ra=$(send 3 4 "{\"cmd\":\"wait\",\"url\":\"$doc\",\"until\":$until,\"timeout_ms\":15000}"); expect_ok "A sees both edits" "$ra"
rb=$(send 5 6 "{\"cmd\":\"wait\",\"url\":\"$doc\",\"until\":$until,\"timeout_ms\":15000}"); expect_ok "B sees both edits" "$rb"
[ "$(field "$ra" heads)" = "$(field "$rb" heads)" ] || fail "heads differ: A $(field "$ra" heads) B $(field "$rb" heads)"

send 3 4 '{"cmd":"quit"}' >/dev/null
send 5 6 '{"cmd":"quit"}' >/dev/null
echo "PASS: $(field "$ra" doc) heads $(field "$ra" heads)"
