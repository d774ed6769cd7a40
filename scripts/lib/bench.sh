# Shared by the benchmark scripts: process control, gRPC request bodies for h2load, Step 10's
# scenarios and server start, and one h2load run with its summary line. Expects WORK, RUN_LIMIT
# and H2LOAD_COMMON to be set before run_h2load is called; fills RPS[name] with each run's
# requests/s.

stop_process() { # pid, name
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "bench: $2 did not stop after SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# gRPC request bodies: a 5-byte prefix (flag 0, big-endian length), then the protobuf message.
hex_byte() { printf '\\x%02x' "$1"; }
proto_string() { # field number, ASCII value (shorter than 128 bytes)
    printf "$(hex_byte $(($1 << 3 | 2)))$(hex_byte ${#2})%s" "$2"
}
frame() { # message file, framed output file
    local n
    n=$(stat -c %s "$1")
    printf "\\x00$(hex_byte $((n >> 24 & 255)))$(hex_byte $((n >> 16 & 255)))$(hex_byte $((n >> 8 & 255)))$(hex_byte $((n & 255)))" >"$2"
    cat "$1" >>"$2"
}

# Step 10's scenarios: h2load's request body for each ($dir/<scenario>.req), its path and title.
SCENARIOS=(health list1 list50 reprocess)
declare -A PATHS=(
    [health]=/grpc.health.v1.Health/Check
    [list1]=/entitlement.v1.AccessPackageRequests/ListRequests
    [list50]=/entitlement.v1.AccessPackageRequests/ListRequests
    [reprocess]=/entitlement.v1.AccessPackageRequests/Reprocess
)
declare -A TITLES=(
    [health]="Health/Check" [list1]="ListRequests, page of 1" [list50]="ListRequests, page of 50"
    [reprocess]="Reprocess, 10 ids, none eligible"
)
write_scenario_requests() { # dir
    : >"$1/health.msg"
    frame "$1/health.msg" "$1/health.req"
    { proto_string 1 ap-0003; printf '\x18\x01'; } >"$1/list1.msg"
    frame "$1/list1.msg" "$1/list1.req"
    { proto_string 1 ap-0003; printf '\x18\x32'; } >"$1/list50.msg"
    frame "$1/list50.msg" "$1/list50.req"
    # 7 ids in eligible states (but outside the window), 2 DENIED, 1 unknown.
    {
        proto_string 1 ap-0003
        for k in 0 1 2 4 5 6 8 3 7; do proto_string 2 "$(printf 'req-p3-%05d' "$k")"; done
        proto_string 2 req-p3-99999
    } >"$1/reprocess.msg"
    frame "$1/reprocess.msg" "$1/reprocess.req"
}

# Starts the server as Step 10 measures it (core 0, the data set of Benchmarks/data in
# $WORK/dataset.json, metrics and access log on) and waits until it serves; sets SERVER_PID and
# TOKEN (the demo token it prints).
start_bench_server() { # server binary dir, CLI binary, port, metrics port
    python3 Benchmarks/data/make-dataset.py "$WORK/dataset.json"
    mkdir -p "$WORK/data"
    taskset -c 0 "$1/entitlement-server" --demo --host "$HOST" --port "$3" --data-dir "$WORK/data" \
        --import "$WORK/dataset.json" --metrics-port "$4" --max-connections 20000 \
        >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 1 600); do
        [ "$(taskset -c 1 "$2" health --target "$HOST:$3" --timeout 2 2>/dev/null)" = SERVING ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$WORK/server.err" >&2; exit 1; }
        sleep 0.2
    done
    TOKEN=$(sed -n 's/^export ENTITLEMENT_TOKEN=//p' "$WORK/server.out" | head -n 1)
    [ -n "$TOKEN" ] || { echo "bench: the server printed no token" >&2; exit 1; }
}

# Runs h2load on core 1; prints one summary line and leaves its output in $WORK/<name>.h2load.
declare -A RPS
run_h2load() { # name, expected data bytes per response (0 = any, but not none), url, extra h2load args...
    local name=$1 expect=$2 url=$3
    shift 3
    local out="$WORK/$name.h2load" log="$WORK/$name.log"
    if ! timeout "$RUN_LIMIT" taskset -c 1 h2load "${H2LOAD_COMMON[@]}" --log-file="$log" "$@" "$url" >"$out" 2>&1; then
        echo "bench: h2load failed for $name:" >&2
        tail -n 20 "$out" >&2
        exit 1
    fi
    local rps succeeded failed data min max mean sd
    rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$out")
    succeeded=$(awk '/^requests:/ { print $8 }' "$out")
    failed=$(awk '/^requests:/ { print $10 + $12 + $14 }' "$out")
    data=$(sed -n 's/^traffic:.* (\([0-9]*\)) data$/\1/p' "$out")
    read -r min max mean sd < <(awk '/^time for request:/ { print $4, $5, $6, $7 }' "$out")
    # p50/p90/p99 (nearest rank) from the per-request log: column 3 is microseconds to the end of the response.
    local percentiles
    percentiles=$(cut -f3 "$log" | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "-"; exit }
            split("50 90 99", q, " ")
            for (i = 1; i <= 3; i++) { r = int((q[i] * NR + 99) / 100); if (r < 1) r = 1; printf "p%s %dus  ", q[i], v[r] }
        }')
    local per=0
    [ "${succeeded:-0}" -gt 0 ] && per=$((data / succeeded))
    printf '%-22s %10s req/s  %s min %s mean %s max %s sd %s  (%s ok, %s failed, %s B data/response)\n' \
        "$name" "$rps" "$percentiles" "$min" "$mean" "$max" "$sd" "$succeeded" "$failed" "$per"
    RPS[$name]=$rps
    # h2load only sees HTTP status; a gRPC error would be a 200 with no DATA, so check the body size.
    if [ "${failed:-1}" -ne 0 ] || [ "$per" -eq 0 ] || { [ "$expect" -ne 0 ] && [ "$per" -ne "$expect" ]; }; then
        echo "bench: $name: unexpected responses (failed $failed, $per bytes of data per response)" >&2
        exit 1
    fi
}

