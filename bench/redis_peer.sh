#!/usr/bin/env bash
# The peer run: the same records through Redis, the tool users would reach
# for otherwise, beside `cachevault bench` in the same run.
#   bench/redis_peer.sh [--records N] [--value-size V] [--bin build/cachevault]
# Installs redis-server/redis-tools if missing; starts private instances on
# 127.0.0.1 (ports picked free, no persistence config, a temp dir), measures
# `redis-cli --pipe` into one and into three instances, BGSAVE time and RDB
# reload time, stops every instance by pid, and prints one JSON object with
# cachevault's figures, Redis's and the ratios.
set -euo pipefail
records=1000000
value_size=100
bin=build/cachevault
while [ $# -gt 0 ]; do
  case "$1" in
    --records) records=$2; shift 2 ;;
    --value-size) value_size=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "usage: $0 [--records N] [--value-size V] [--bin PATH]" >&2; exit 2 ;;
  esac
done
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
work=$(mktemp -d /tmp/cachevault-redis-peer.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }

# start_redis DIR PORT: a private instance; its pid is appended to pids.
start_redis() {
  mkdir -p "$1"
  redis-server --bind 127.0.0.1 --port "$2" --dir "$1" --save '' --appendonly no --daemonize no \
    --logfile "$1/redis.log" --protected-mode yes >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 500); do
    if redis-cli -p "$2" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.01
  done
  echo "redis on port $2 did not start" >&2
  exit 1
}

# RESP SET commands for the same keys and values cachevault's load writes
# (key-%010d, value_size bytes), split over `parts` files by index.
python3 - "$records" "$value_size" "$work" <<'PY'
import sys
n, v, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
val = b"v" * v
for parts in (1, 3):
    files = [open(f"{work}/set{parts}.{i}", "wb", buffering=1 << 20) for i in range(parts)]
    for i in range(n):
        k = b"key-%010d" % i
        files[i % parts].write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, v, val))
    for f in files:
        f.close()
PY

# One instance: --pipe, BGSAVE, then reload of the RDB.
p1=$(free_port)
start_redis "$work/r1" "$p1"
t0=$(now)
redis-cli -p "$p1" --pipe < "$work/set1.0" >/dev/null
t1=$(now)
pipe1=$(python3 -c "print($records/($t1-$t0))")
t0=$(now)
redis-cli -p "$p1" bgsave >/dev/null
while redis-cli -p "$p1" info persistence | grep -q 'rdb_bgsave_in_progress:1'; do sleep 0.005; done
t1=$(now)
bgsave=$(python3 -c "print($t1-$t0)")
redis-cli -p "$p1" shutdown nosave >/dev/null 2>&1 || true
wait "${pids[0]}" 2>/dev/null || true
p1b=$(free_port)
t0=$(now)
start_redis "$work/r1" "$p1b"
while redis-cli -p "$p1b" info persistence | grep -q 'loading:1'; do sleep 0.005; done
t1=$(now)
reload=$(python3 -c "print($records/($t1-$t0))")

# Three instances, loaded in parallel.
ports=()
for i in 0 1 2; do
  p=$(free_port)
  start_redis "$work/r3.$i" "$p"
  ports+=("$p")
done
t0=$(now)
cli=()
for i in 0 1 2; do
  redis-cli -p "${ports[$i]}" --pipe < "$work/set3.$i" >/dev/null &
  cli+=($!)
done
for p in "${cli[@]}"; do wait "$p"; done
t1=$(now)
pipe3=$(python3 -c "print($records/($t1-$t0))")

cv=$("$bin" bench --records "$records" --value-size "$value_size" --json)
python3 - "$cv" "$pipe1" "$pipe3" "$bgsave" "$reload" <<'PY'
import json, sys
cv = json.loads(sys.argv[1])
redis = {"pipe_one_records_per_s": float(sys.argv[2]), "pipe_three_records_per_s": float(sys.argv[3]),
         "bgsave_seconds": float(sys.argv[4]), "rdb_reload_records_per_s": float(sys.argv[5])}
ratios = {
    "restore_vs_redis_pipe_three": cv["restore_records_per_s"] / redis["pipe_three_records_per_s"],
    "restore_vs_redis_rdb_reload": cv["restore_records_per_s"] / redis["rdb_reload_records_per_s"],
    "load_vs_redis_pipe_three": cv["load_records_per_s"] / redis["pipe_three_records_per_s"],
    "backup_seconds_vs_redis_bgsave": cv["backup_seconds"] / redis["bgsave_seconds"],
}
print(json.dumps({"cachevault": cv, "redis": redis, "ratios": ratios}))
PY
