# Shared by the benchmark scripts: process control, gRPC request bodies for h2load, and one
# h2load run with its summary line. Expects WORK, RUN_LIMIT and H2LOAD_COMMON to be set before
# run_h2load is called; fills RPS[name] with each run's requests/s.

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

