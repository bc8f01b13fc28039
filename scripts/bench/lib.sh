# Shared by the benchmark scripts: start a release gridwing and the bare actix-web baseline side
# by side, log in, and run wrk cases that print "NAME requests/s p99".
# Source it after `cd` to the repository root; set GW_ADDR, BARE_ADDR, WORKERS, DURATION,
# CONNECTIONS first.

bench_tmp=$(mktemp -d)
# Where cargo puts release binaries (CARGO_TARGET_DIR, if set, else target/).
bench_bin="${CARGO_TARGET_DIR:-target}/release"
bench_pids=()
bench_cleanup() { for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$bench_tmp"; }
trap bench_cleanup EXIT

bench_need_wrk() {
  if ! command -v wrk >/dev/null; then
    echo "installing wrk"
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
  fi
}

# bench_start_servers [gridwing serve flags...]: a fresh SQLite database unless
# BENCH_DATABASE_URL is set; login throttles and websocket caps lifted so the load (many
# connections of one user from one address) is not refused. WS_MAX_PER_USER, WS_MAX_PER_ADDR
# and WS_MAX_TOTAL set the caps instead (0, the default here: no cap, nothing counted).
bench_start_servers() {
  echo "building release binaries"
  cargo build -q --release --bin gridwing --example bare
  BENCH_DB="${BENCH_DATABASE_URL:-sqlite://$bench_tmp/bench.sqlite?mode=rwc}"
  RUST_LOG=warn "$bench_bin/gridwing" serve --demo --addr "$GW_ADDR" --database-url "$BENCH_DB" \
    --workers "$WORKERS" --login-failures-per-account 1000000000 --login-failures-per-addr 1000000000 \
    --ws-max-per-user "${WS_MAX_PER_USER:-0}" --ws-max-per-addr "${WS_MAX_PER_ADDR:-0}" \
    --ws-max-total "${WS_MAX_TOTAL:-0}" "$@" >"$bench_tmp/gridwing.log" 2>&1 &
  bench_pids+=($!)
  "$bench_bin/examples/bare" "$BARE_ADDR" "$WORKERS" >"$bench_tmp/bare.log" 2>&1 &
  bench_pids+=($!)
  for _ in $(seq 300); do
    curl -sf "http://$GW_ADDR/readyz" >/dev/null && curl -sf "http://$BARE_ADDR/read" >/dev/null && return 0
    sleep 0.2
  done
  echo "servers did not start; gridwing log:" >&2
  cat "$bench_tmp/gridwing.log" >&2
  return 1
}

# bench_token PHONE: an access token of a demo account.
bench_token() {
  curl -sf "http://$GW_ADDR/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"phone\":\"$1\",\"password\":\"gridwing2026\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}

# bench_post_script FILE BODY [TOKEN]: a wrk Lua script that POSTs BODY as JSON.
bench_post_script() {
  {
    echo 'wrk.method = "POST"'
    printf "wrk.body = '%s'\n" "$2"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    [[ -z "${3:-}" ]] || printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$3"
  } >"$1"
}

# bench_run NAME URL [wrk args...]: prints "NAME rps p99"
bench_run() {
  local name=$1 url=$2; shift 2
  local out rps p99 non2xx
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  [[ -z "$non2xx" ]] || echo "warning: $name had $non2xx non-2xx answers" >&2
  printf '%s %s %s\n' "$name" "$rps" "$p99"
}

# bench_table RESULT...: prints the results, each rate as a share of the rate of the
# case named in its fourth word, if any (results are "NAME rps p99 [BASE]").
bench_table() {
  printf '\n%-20s %12s %10s %14s\n' case "requests/s" p99 "share of bare"
  local -A rate=()
  local r name rps p99 base share
  for r in "$@"; do read -r name rps p99 base <<<"$r"; rate[$name]=$rps; done
  for r in "$@"; do
    read -r name rps p99 base <<<"$r"
    share="-"
    [[ -z "$base" ]] || share=$(awk -v a="$rps" -v b="${rate[$base]}" 'BEGIN {printf "%.1f %%", 100 * a / b}')
    printf '%-20s %12s %10s %14s\n' "$name" "$rps" "$p99" "$share"
  done
}
