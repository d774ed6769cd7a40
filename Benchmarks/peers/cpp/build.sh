#!/usr/bin/env bash
# Builds the gRPC C++ peer into Benchmarks/peers/cpp/server from Debian's packages
# (libgrpc++-dev, protobuf-compiler-grpc, libprotobuf-dev, protobuf-compiler, g++).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
protoc -I "$root/proto" -I "$here" --cpp_out="$work" --grpc_out="$work" \
    --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
    "$root/proto/entitlement/v1/access_requests.proto" "$here/fixture.proto"
g++ -std=c++17 -O2 -I "$work" -o "$here/server" "$here/server.cc" "$work/fixture.pb.cc" \
    "$work/entitlement/v1/access_requests.pb.cc" "$work/entitlement/v1/access_requests.grpc.pb.cc" \
    $(pkg-config --cflags --libs grpc++ protobuf) -lgrpc++_reflection -lcrypto
echo "built $here/server"
