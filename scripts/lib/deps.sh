# Shared by scripts/run-demo and scripts/test: install what is missing, or say exactly how.
# System packages: root installs them with apt-get; anyone else gets the exact command and a
# non-zero exit. Python packages need no root: they go into a virtualenv in .build when missing.

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

# The interpreter the tests run, first on PATH once ensure_pip has run: the system's python3 when
# it has the packages, otherwise a virtualenv in .build (no root needed, and Debian's python3 is
# "externally managed", so pip refuses to install into it even as root).
PYTHON_VENV="$PWD/.build/python"

missing_pip() {
    # Arguments are "module:package" pairs, e.g. jwt:PyJWT; prints the packages whose module
    # python3 (as found on PATH) cannot import.
    local pair missing=()
    for pair in "$@"; do
        python3 -c "import ${pair%%:*}" 2>/dev/null || missing+=("${pair#*:}")
    done
    echo "${missing[@]:-}"
}

ensure_pip() {
    local missing
    [ -z "$(missing_pip "$@")" ] && return 0
    if [ ! -x "$PYTHON_VENV/bin/python3" ]; then
        # Debian ships venv's pip bootstrap separately.
        python3 -c 'import ensurepip' 2>/dev/null || ensure_apt python3-venv
        echo "==> creating a Python virtualenv for the tests in $PYTHON_VENV"
        mkdir -p "$(dirname "$PYTHON_VENV")"
        python3 -m venv "$PYTHON_VENV" || { echo "error: python3 -m venv $PYTHON_VENV failed" >&2; exit 1; }
    fi
    export PATH="$PYTHON_VENV/bin:$PATH"
    # What the virtualenv lacks (it does not see the system's packages).
    missing=$(missing_pip "$@")
    [ -z "$missing" ] && return 0
    echo "==> installing Python packages into $PYTHON_VENV: $missing"
    # shellcheck disable=SC2086
    "$PYTHON_VENV/bin/python3" -m pip install -q --disable-pip-version-check $missing || {
        echo "error: could not install $missing; run: $PYTHON_VENV/bin/python3 -m pip install $missing" >&2
        exit 1
    }
}

# What building the server needs.
BUILD_PACKAGES=(libnghttp2-dev zlib1g-dev libsqlite3-dev pkg-config)
# What the tests' real peers need.
TEST_PACKAGES=(protobuf-compiler libprotobuf-dev nghttp2-client nghttp2-server nginx-light postgresql chromium)
TEST_PYTHON=(grpc:grpcio grpc_tools:grpcio-tools grpc_reflection:grpcio-reflection prometheus_client:prometheus-client jwt:PyJWT cryptography:cryptography h2:h2 yaml:PyYAML pytest:pytest)
