# Shared by scripts/run-demo and scripts/test: install what is missing, or say exactly how.
# Root installs with apt-get/pip; anyone else gets the exact command and a non-zero exit.

missing_apt() {
    local pkg missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    echo "${missing[@]:-}"
}

ensure_apt() {
    local missing
    missing=$(missing_apt "$@")
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "==> installing system packages: $missing"
        apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "missing system packages; run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
        exit 1
    fi
}

ensure_pip() {
    # Arguments are "module:package" pairs, e.g. jwt:PyJWT.
    local pair module pkg missing=()
    for pair in "$@"; do
        module=${pair%%:*}
        pkg=${pair#*:}
        python3 -c "import $module" 2>/dev/null || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "==> installing Python packages: ${missing[*]}"
        python3 -m pip install -q --disable-pip-version-check "${missing[@]}"
    else
        echo "missing Python packages; run:" >&2
        echo "  python3 -m pip install --user ${missing[*]}" >&2
        exit 1
    fi
}

# What building the server needs.
BUILD_PACKAGES=(libnghttp2-dev zlib1g-dev libsqlite3-dev pkg-config)
# What the tests' real peers need.
TEST_PACKAGES=(protobuf-compiler libprotobuf-dev nghttp2-client nghttp2-server nginx-light postgresql chromium)
TEST_PYTHON=(grpc:grpcio grpc_tools:grpcio-tools grpc_reflection:grpcio-reflection prometheus_client:prometheus-client jwt:PyJWT cryptography:cryptography h2:h2 pytest:pytest)
