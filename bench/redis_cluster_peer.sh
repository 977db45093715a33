#!/usr/bin/env bash
# Redis protocol speed: redis-benchmark --cluster against cachevault (every
# serving node a Redis Cluster node) and against a real Redis Cluster of
# 3 masters + 3 replicas, both on loopback, in the same run.
#   bench/redis_cluster_peer.sh [--requests N] [--keyspace N] [--value-size V] [--clients C]
#                               [--nodes 3] [--replicas 2] [--bin build/cachevault]
# Runs -t set,get with -P 16 and with -P 1 against each, then fills both
# with --keyspace distinct keys and reports memory per key (cachevault: the
# serving nodes' RSS growth over all copies; Redis: used_memory growth of
# the masters and replicas). Prints one JSON object with both sides and the
# ratios (cachevault / Redis). Every process it starts is stopped by pid.
set -euo pipefail
requests=1000000
keyspace=1000000
value_size=100
clients=50
nodes=3
replicas=2
bin=build/cachevault
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests=$2; shift 2 ;;
    --keyspace) keyspace=$2; shift 2 ;;
    --value-size) value_size=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --replicas) replicas=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "usage: $0 [--requests N] [--keyspace N] [--value-size V] [--clients C] [--nodes N] [--replicas R] [--bin PATH]" >&2
       exit 2 ;;
  esac
done
for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "no cachevault binary at $bin (./run build)" >&2; exit 1; }
work=$(mktemp -d /tmp/cachevault-redis-cluster-peer.XXXXXX)
name=rcpeer-$$
pids=()
cleanup() {
  "$bin" cluster down --name "$name" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A free port whose cluster bus port (port + 10000) is free and valid too.
free_port() {
  python3 - <<'PY'
import random, socket
while True:
    p = random.randint(20000, 54000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass
PY
}

# bench PORT PIPELINE: redis-benchmark --cluster's CSV lines for SET and GET.
bench() {
  redis-benchmark --cluster -h 127.0.0.1 -p "$1" -t set,get -n "$requests" -d "$value_size" -r "$keyspace" \
    -c "$clients" -P "$2" --csv 2>/dev/null | grep -E '^"(SET|GET)"'
}

# --- cachevault
"$bin" cluster up --name "$name" --dir "$work/cv" --nodes "$nodes" --replicas "$replicas" --detach >/dev/null
cv_port=$("$bin" status --name "$name" --json | python3 -c 'import json,sys; print([n["port"] for n in json.load(sys.stdin)["nodes"] if n["role"]=="serving"][0])')
cv_rss() {
  local total=0
  for pid in $("$bin" status --name "$name" --json | python3 -c 'import json,sys; print(" ".join(str(n["pid"]) for n in json.load(sys.stdin)["nodes"] if n["role"]=="serving"))'); do
    total=$((total + $(awk '/VmRSS/ {print $2}' /proc/$pid/status) * 1024))
  done
  echo $total
}
cv_rss0=$(cv_rss)
cv16=$(bench "$cv_port" 16)
cv1=$(bench "$cv_port" 1)
# Fill every key of the keyspace once (-r draws randomly; this writes each).
redis-benchmark --cluster -h 127.0.0.1 -p "$cv_port" -t set -n "$keyspace" -d "$value_size" -r "$keyspace" -c "$clients" -P 16 -q >/dev/null 2>&1 || true
cv_keys=0
for port in $("$bin" status --name "$name" --json | python3 -c 'import json,sys; print(" ".join(str(n["port"]) for n in json.load(sys.stdin)["nodes"] if n["role"]=="serving"))'); do
  cv_keys=$((cv_keys + $(redis-cli -p "$port" dbsize)))
done
cv_rss1=$(cv_rss)
"$bin" cluster down --name "$name" >/dev/null

# --- Redis Cluster: 3 masters + 3 replicas
ports=()
for i in 0 1 2 3 4 5; do
  p=$(free_port)
  ports+=("$p")
  mkdir -p "$work/r$i"
  redis-server --bind 127.0.0.1 --port "$p" --dir "$work/r$i" --save '' --appendonly no --daemonize no \
    --cluster-enabled yes --cluster-config-file "$work/r$i/nodes.conf" --logfile "$work/r$i/redis.log" >/dev/null 2>&1 &
  pids+=($!)
done
for p in "${ports[@]}"; do
  for _ in $(seq 1 500); do redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && break; sleep 0.01; done
done
addrs=()
for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
for _ in $(seq 1 500); do
  redis-cli -p "${ports[0]}" cluster info | grep -q 'cluster_state:ok' && break
  sleep 0.05
done
sleep 1  # replicas finish their first sync
redis_used() {
  local total=0
  for p in "${ports[@]}"; do total=$((total + $(redis-cli -p "$p" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'))); done
  echo $total
}
r_used0=$(redis_used)
r16=$(bench "${ports[0]}" 16)
r1=$(bench "${ports[0]}" 1)
redis-benchmark --cluster -h 127.0.0.1 -p "${ports[0]}" -t set -n "$keyspace" -d "$value_size" -r "$keyspace" -c "$clients" -P 16 -q >/dev/null 2>&1 || true
sleep 1
r_keys=0
for p in "${ports[@]}"; do
  if redis-cli -p "$p" role | head -1 | grep -q master; then r_keys=$((r_keys + $(redis-cli -p "$p" dbsize))); fi
done
r_used1=$(redis_used)

python3 - "$cv16" "$cv1" "$r16" "$r1" "$cv_keys" "$cv_rss0" "$cv_rss1" "$r_keys" "$r_used0" "$r_used1" \
  "$requests" "$value_size" "$clients" "$nodes" "$replicas" <<'PY'
import csv, io, json, sys
(cv16, cv1, r16, r1, cv_keys, cv0, cv1_rss, r_keys, r0, r1_used,
 requests, value_size, clients, nodes, replicas) = sys.argv[1:]
def parse(text):
    out = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 8:
            out[row[0]] = {"rps": float(row[1]), "p50_ms": float(row[4]), "p99_ms": float(row[6])}
    return out
cv = {"P16": parse(cv16), "P1": parse(cv1)}
rd = {"P16": parse(r16), "P1": parse(r1)}
ratios = {}
for p in ("P16", "P1"):
    for t in ("SET", "GET"):
        if t in cv[p] and t in rd[p]:
            ratios[f"{t.lower()}_{p}_rps"] = round(cv[p][t]["rps"] / rd[p][t]["rps"], 3)
            ratios[f"{t.lower()}_{p}_p99"] = round(cv[p][t]["p99_ms"] / max(rd[p][t]["p99_ms"], 1e-9), 3)
cvb = (int(cv1_rss) - int(cv0)) / max(int(cv_keys), 1)
rb = (int(r1_used) - int(r0)) / max(int(r_keys), 1)
print(json.dumps({
    "requests": int(requests), "value_size": int(value_size), "clients": int(clients),
    "cachevault": {"nodes": int(nodes), "replicas": int(replicas), **cv, "keys": int(cv_keys),
                   "bytes_per_key_all_copies": round(cvb, 1)},
    "redis_cluster": {"masters": 3, "replicas_per_master": 1, **rd, "keys": int(r_keys),
                      "bytes_per_key_all_copies": round(rb, 1)},
    "ratios_cachevault_over_redis": {**ratios, "bytes_per_key": round(cvb / rb, 3) if rb else None},
}, indent=1))
PY
