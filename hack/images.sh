#!/usr/bin/env bash
# `make images`: OCI image archives of the operator, the remoting server (with the executor and the
# addon) and the shim, assembled from the built artifacts without a container engine: each image is
# one layer (a root filesystem staged here: the artifacts, the Node.js runtime and the shared
# libraries they link, production node_modules, a non-root user) written by umoci (Debian package).
# Output: build/images/<name>.oci.tar (an OCI image layout as a tar, "oci-archive"), tag = the
# chart's appVersion. Push: skopeo copy oci-archive:build/images/operator.oci.tar docker://REGISTRY/avec/operator:TAG
# Usage: hack/images.sh [operator|remoting-server|shim ...]   (default: all three; needs make build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/images
TAG=$(awk '$1=="appVersion:"{gsub(/"/,"",$2); print $2}' "$ROOT/charts/avec/Chart.yaml")
UID_GID=65532:65532
log() { printf '[images] %s\n' "$*" >&2; }
command -v umoci >/dev/null || { log "umoci is missing (Debian package umoci; make deps installs it)"; exit 1; }

# The shared libraries a binary needs, copied to the same paths (the loader included).
add_libs() {
  local root=$1; shift
  for bin in "$@"; do
    ldd "$bin" | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}' | while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
}

# A minimal root: the non-root user the image runs as, /tmp, the Node.js runtime.
base_root() {
  local root=$1
  mkdir -p "$root/etc" "$root/tmp" "$root/usr/local/bin"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
}
add_node() {
  local root=$1
  cp -L "$(command -v node)" "$root/usr/local/bin/node"
  add_libs "$root" "$root/usr/local/bin/node"
}

# /app: the workspaces' dist and production node_modules (installed from the lockfile, no scripts).
add_app() {
  local root=$1; shift
  local stage=$OUT/npm-$(basename "$root")
  rm -rf "$stage"; mkdir -p "$stage"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$stage/"
  local ws=()
  for w in "$@"; do
    mkdir -p "$stage/$w"; cp "$ROOT/$w/package.json" "$stage/$w/"
    ws+=(--workspace "$w")
  done
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error "${ws[@]}" --include-workspace-root >/dev/null)
  mkdir -p "$root/app"
  cp "$ROOT/package.json" "$root/app/"
  cp -a "$stage/node_modules" "$root/app/"
  for w in "$@"; do
    mkdir -p "$root/app/$w"
    cp "$ROOT/$w/package.json" "$root/app/$w/"
    cp -a "$ROOT/$w/dist" "$root/app/$w/"
    find "$root/app/$w/dist" \( -name '*.test.*' -o -name '*.map' -o -name '*.tsbuildinfo' \) -delete
  done
  rm -rf "$stage"
}

# One layer from the staged root, the image config, then the layout as a tar.
write_image() {
  local name=$1 root=$2; shift 2
  local layout=$OUT/$name.layout
  rm -rf "$layout"
  umoci init --layout "$layout"
  umoci new --image "$layout:$TAG"
  # unpack the empty image, put the staged root in, repack: one layer with relative paths.
  umoci unpack --image "$layout:$TAG" "$OUT/$name.bundle" >/dev/null
  cp -a "$root/." "$OUT/$name.bundle/rootfs/"
  umoci repack --image "$layout:$TAG" "$OUT/$name.bundle" >/dev/null
  rm -rf "$OUT/$name.bundle"
  umoci config --image "$layout:$TAG" --os linux --architecture amd64 --author avec \
    --config.user "$UID_GID" --config.workingdir / --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.label "org.opencontainers.image.title=avec-$name" --config.label "org.opencontainers.image.version=$TAG" "$@"
  umoci gc --layout "$layout"
  tar -C "$layout" -cf "$OUT/$name.oci.tar.tmp" . && mv "$OUT/$name.oci.tar.tmp" "$OUT/$name.oci.tar"
  rm -rf "$layout" "$root"
  log "$name: $OUT/$name.oci.tar ($(du -h "$OUT/$name.oci.tar" | cut -f1), tag $TAG)"
}

PACKAGES=(packages/common packages/api packages/kube packages/tickets)
need() { for f in "$@"; do [ -e "$f" ] || { log "$f is missing: run make build first (make images does)"; exit 1; }; done; }

image_operator() {
  need "$ROOT/operator/dist/main.js"
  local root=$OUT/operator.root; rm -rf "$root"
  base_root "$root"; add_node "$root"; add_app "$root" "${PACKAGES[@]}" operator
  write_image operator "$root" --config.env NODE_ENV=production \
    --config.entrypoint node --config.entrypoint /app/operator/dist/main.js \
    --config.exposedports 9443/tcp --config.exposedports 8080/tcp --config.exposedports 8081/tcp
}

image_remoting_server() {
  need "$ROOT/remoting-server/dist/main.js" "$ROOT/build/native/avec-executor" "$ROOT/build/addon/avec_addon.node"
  local root=$OUT/remoting-server.root; rm -rf "$root"
  base_root "$root"; add_node "$root"; add_app "$root" "${PACKAGES[@]}" remoting-server
  cp -a "$ROOT/remoting-server/proto" "$root/app/remoting-server/"
  mkdir -p "$root/opt/avec/bin" "$root/opt/avec/lib"
  cp "$ROOT/build/native/avec-executor" "$root/opt/avec/bin/"
  cp "$ROOT/build/addon/avec_addon.node" "$root/opt/avec/lib/"
  add_libs "$root" "$ROOT/build/native/avec-executor" "$ROOT/build/addon/avec_addon.node"
  # The executor loads the node's real libcuda.so.1, which the NVIDIA container runtime mounts in;
  # without it (--backend auto) the emulated device serves sessions.
  write_image remoting-server "$root" --config.env NODE_ENV=production --config.env AVEC_ADDON=/opt/avec/lib/avec_addon.node \
    --config.entrypoint node --config.entrypoint /app/remoting-server/dist/main.js \
    --config.exposedports 7400/tcp --config.exposedports 7401/tcp --config.exposedports 7402/tcp
}

image_shim() {
  need "$ROOT/build/shim/libcuda.so.1" "$ROOT/build/shim/libnvidia-ml.so.1" /bin/busybox
  local root=$OUT/shim.root; rm -rf "$root"
  base_root "$root"
  mkdir -p "$root/bin" "$root/opt/avec/lib"
  # The webhook's init container runs "/bin/sh -c cp ..." (operator --shim-image): a static busybox.
  cp /bin/busybox "$root/bin/busybox"
  for app in sh cp ls cat; do ln -s busybox "$root/bin/$app"; done
  cp "$ROOT/build/shim/libcuda.so.1" "$ROOT/build/shim/libnvidia-ml.so.1" "$root/opt/avec/lib/"
  write_image shim "$root" --config.entrypoint /bin/sh --config.entrypoint -c \
    --config.entrypoint 'cp /opt/avec/lib/* "${1:-/avec}"/' --config.entrypoint copy-shim
}

mkdir -p "$OUT"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(operator remoting-server shim)
for n in "${names[@]}"; do
  case $n in
    operator) image_operator ;;
    remoting-server) image_remoting_server ;;
    shim) image_shim ;;
    *) log "unknown image: $n (operator, remoting-server, shim)"; exit 2 ;;
  esac
done
