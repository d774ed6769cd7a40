#!/usr/bin/env bash
# Builds the grpc-go peer into Benchmarks/peers/go/server from Debian's Go packages (GOPATH mode,
# no network): golang-go, golang-google-grpc-dev, golang-goprotobuf-dev, protobuf-compiler.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/benchpeer/entitlementpb" "$work/src/benchpeer/server"
mkdir -p "$work/gen"
protoc -I "$root/proto" \
    --go_out=plugins=grpc,Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp:"$work/gen" \
    "$root/proto/entitlement/v1/access_requests.proto"
cp "$work"/gen/entitlement/v1/access_requests.pb.go "$work/src/benchpeer/entitlementpb/"
cp "$here/main.go" "$work/src/benchpeer/server/"
cd "$work/src/benchpeer/server"
GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOCACHE="$work/cache" go build -o "$here/server" .
echo "built $here/server"
