#!/usr/bin/env bash
# Builds the Swift (release) and C++ (-O2, libprotobuf) codec benchmarks and compares them on the
# same ListRequestsResponse bytes (50 requests, 3 resources each).
#   Benchmarks/Codec/run.sh [ITERATIONS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
iterations="${1:-2000}"
build=.build-cpp
mkdir -p "$build"

protoc -I ../../proto -I /usr/include --cpp_out="$build" entitlement/v1/access_requests.proto
g++ -O2 -std=c++17 -I"$build" -o "$build/codec-bench-cpp" cpp/bench.cpp "$build/entitlement/v1/access_requests.pb.cc" \
    $(pkg-config --cflags --libs protobuf) -ldl
gcc -O2 -shared -fPIC -o "$build/libcountalloc.so" cpp/count_alloc.c

swift build -c release --product CodecBenchmark >&2
swift_bin="$(swift build -c release --show-bin-path)/CodecBenchmark"

LD_PRELOAD="$PWD/$build/libcountalloc.so" "$swift_bin" --write-input "$build/message.bin" --iterations "$iterations" \
    > "$build/swift.txt"
LD_PRELOAD="$PWD/$build/libcountalloc.so" "$build/codec-bench-cpp" "$build/message.bin" "$iterations" > "$build/cpp.txt"

value() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
echo "message: $(value "$build/swift.txt" message_bytes) bytes (ListRequestsResponse, 50 requests x 3 resources)"
printf '%-8s %12s %12s %8s %14s %14s\n' op swift_ns cpp_ns ratio swift_allocs cpp_allocs
for op in encode decode; do
    s="$(value "$build/swift.txt" "${op}_ns")"
    c="$(value "$build/cpp.txt" "${op}_ns")"
    ratio="$(awk -v s="$s" -v c="$c" 'BEGIN { printf "%.2fx", s / c }')"
    printf '%-8s %12s %12s %8s %14s %14s\n' "$op" "$s" "$c" "$ratio" \
        "$(value "$build/swift.txt" "${op}_allocs")" "$(value "$build/cpp.txt" "${op}_allocs")"
done

# Wall-clock numbers are noisy on a shared machine; with INSTRUCTIONS=1 (and valgrind installed),
# also count instructions per operation, which do not depend on load.
if [ "${INSTRUCTIONS:-0}" = 1 ] && command -v valgrind >/dev/null; then
    refs() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | awk '/refs:/ { gsub(",", "", $NF); print $NF }'; }
    # measure() runs n/10 + 1 warm-up calls and 7 rounds of n; the difference between n=250 and n=50 is 1,420 calls.
    per_op() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1420 }'; }
    printf '%-8s %16s %16s %8s\n' op swift_instr/op cpp_instr/op ratio
    for op in encode decode; do
        s="$(per_op "$(refs "$swift_bin" --only "$op" --iterations 50)" "$(refs "$swift_bin" --only "$op" --iterations 250)")"
        c="$(per_op "$(refs "$build/codec-bench-cpp" "$build/message.bin" 50 "$op")" \
            "$(refs "$build/codec-bench-cpp" "$build/message.bin" 250 "$op")")"
        printf '%-8s %16s %16s %8s\n' "$op" "$s" "$c" "$(awk -v s="$s" -v c="$c" 'BEGIN { printf "%.2fx", s / c }')"
    done
fi
