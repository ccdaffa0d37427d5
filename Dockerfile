# spantap's container image: built in a Debian builder, shipped on a Debian
# base with only the runtime libraries. Build and push for a cluster:
#   docker build -t registry.example/spantap:$(git describe --always) .
#   docker push registry.example/spantap:$(git describe --always)
# BASE lets a machine without a registry build FROM a locally imported
# Debian 12 image (see `make image-test`).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	make clang llvm gcc libc6-dev libbpf-dev bpftool libelf-dev zlib1g-dev libcurl4-openssl-dev pkg-config \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY bpf bpf
COPY user user
COPY vmlinux vmlinux
ARG VERSION=image
RUN make -j"$(nproc)" VERSION="$VERSION" build/spantap

FROM ${BASE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	libbpf1 libelf1 zlib1g libcurl4 ca-certificates \
	&& rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/spantap /usr/bin/spantap
ENTRYPOINT ["/usr/bin/spantap"]
