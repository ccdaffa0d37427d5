#!/usr/bin/env bash
# make bench-otlp: builds bench/otlpcodec.c against libprotobuf-c on code
# protoc-c generates from OpenTelemetry's published .proto files (shipped by
# the npm package @opentelemetry/otlp-grpc-exporter-base 0.38.0, fetched
# once into a cache outside the repository), and runs it. Those files
# predate Span.flags (16) and Link.flags (6), which are added here as
# trace.proto has them since v1.1.0. Needs protobuf-c-compiler,
# libprotobuf-c-dev (scripts/install-deps.sh), npm.
set -euo pipefail
OUT=${1:?usage: otlp-codec.sh OUT_DIR LIBSPANTAP [ITERATIONS]}
LIB=${2:?}
ITERS=${3:-2000000}
CACHE=${SPANTAP_NPM_CACHE:-/var/cache/spantap/npm}
PKG=$CACHE/otlp-grpc-exporter-base-0.38.0
PROTOS=$PKG/node_modules/@opentelemetry/otlp-grpc-exporter-base/build/protos
for tool in protoc-c npm; do
	command -v $tool >/dev/null || { echo "otlp-codec: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
if [ ! -d "$PROTOS" ]; then
	mkdir -p "$PKG"
	npm install --prefix "$PKG" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
		@opentelemetry/otlp-grpc-exporter-base@0.38.0 >/dev/null
fi
W=$OUT/bench/otlp-pbc
rm -rf "$W" && mkdir -p "$W/gen"
cp -r "$PROTOS" "$W/protos"
T=$W/protos/opentelemetry/proto/trace/v1/trace.proto
sed -i 's/^    uint32 dropped_attributes_count = 5;/&\n    fixed32 flags = 6;/; s/^  Status status = 15;/&\n  fixed32 flags = 16;/' "$T"
grep -q "fixed32 flags = 16;" "$T" && grep -q "fixed32 flags = 6;" "$T"
protoc-c --proto_path="$W/protos" --c_out="$W/gen" "$W/protos/opentelemetry/proto/common/v1/common.proto" \
	"$W/protos/opentelemetry/proto/resource/v1/resource.proto" "$T"
${CC:-cc} -O2 -g -std=gnu11 -D_GNU_SOURCE -Iuser -Ibpf -I"$W/gen" bench/otlpcodec.c \
	"$W"/gen/opentelemetry/proto/*/v1/*.pb-c.c "$LIB" -lprotobuf-c -o "$W/otlpcodec"
"$W/otlpcodec" "$ITERS"
