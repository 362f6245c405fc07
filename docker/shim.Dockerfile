# syntax=docker/dockerfile:1
# The shim image: only the interception libraries, copied into each opted-in pod by the webhook's init
# container (`cp /opt/avec/lib/* /avec/`), so it needs a shell and cp and nothing else.
# Build from the repository root: docker build -f docker/shim.Dockerfile .
FROM debian:bookworm-20250113-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends make=4.3-4.1 gcc=4:12.2.0-3 libc6-dev=2.36-9+deb12u9 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY mk/ mk/
COPY shim/ shim/
COPY wire/ wire/
RUN make shim

FROM busybox:1.37.0-musl
LABEL org.opencontainers.image.title="avec-shim" \
      org.opencontainers.image.description="avec CUDA driver and NVML interception libraries"
COPY --from=build /src/build/shim/libcuda.so.1 /src/build/shim/libnvidia-ml.so.1 /opt/avec/lib/
USER 65532:65532
ENTRYPOINT ["/bin/sh", "-c", "cp /opt/avec/lib/* \"${1:-/avec}\"/", "copy-shim"]
