# Runs `swift test` with a watchdog, appending its output to $swift_log.
# A run that hangs (a call or wait that never ends) is stopped after SWIFT_TEST_TIMEOUT seconds,
# and the tests that started but never finished are named, so the log says where it hung.
SWIFT_TEST_TIMEOUT=${SWIFT_TEST_TIMEOUT:-900}

run_swift_tests() {
    local status
    timeout --kill-after=15 "$SWIFT_TEST_TIMEOUT" swift test --skip-build "$@" 2>&1 | tee -a "$swift_log"
    status=${PIPESTATUS[0]}
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        # swift-test runs the tests in a process of their own, which the timeout does not reach.
        pkill -KILL -f "$PWD/.build/.*PackageTests.xctest" 2>/dev/null
        printf '\nerror: swift test %s did not finish within %ss; still running:\n' "$*" "$SWIFT_TEST_TIMEOUT" | tee -a "$swift_log"
        unfinished_tests "$swift_log" | tee -a "$swift_log"
    fi
    return "$status"
}

# Tests whose start is in the log without a matching pass or failure.
unfinished_tests() {
    python3 - "$1" <<'PY'
import re, sys
started, ended = [], set()
for line in open(sys.argv[1], errors="replace"):
    if m := re.match(r'^◇ Test "(.*)" started', line):
        started.append(m.group(1))
    elif m := re.match(r'^[✔✘] Test "(.*?)" (with \d+ test cases? )?(passed|failed)', line):
        ended.add(m.group(1))
for name in dict.fromkeys(started):
    if name not in ended:
        print(f"  ✘ unfinished: {name}")
PY
}
