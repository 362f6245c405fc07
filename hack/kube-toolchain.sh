#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kubectl, helm) from their Go modules into
# $AVEC_CACHE/kube/bin. One wrapper module per binary (hack/kube-toolchain/<name>/) keeps their
# dependency graphs apart. Idempotent: a binary whose stamp matches its wrapper's go.mod + go.sum is
# skipped. Usage: hack/kube-toolchain.sh [name...]   (default: all four)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
AVEC_CACHE=${AVEC_CACHE:-$HOME/.cache/avec}
BIN=$AVEC_CACHE/kube/bin
JOBS=${AVEC_GO_JOBS:-2}

# Go caches live under $HOME so that a second run (and CI on the same machine) is incremental.
export GOMODCACHE=${AVEC_GOMODCACHE:-$AVEC_CACHE/go/mod}
export GOCACHE=${AVEC_GOCACHE:-$AVEC_CACHE/go/build}
export GOPATH=${AVEC_GOPATH:-$AVEC_CACHE/go/path}
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0
mkdir -p "$BIN"

# name -> package main inside the wrapper's dependency graph
declare -A PKG=(
  [etcd]=go.etcd.io/etcd/server/v3
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [helm]=helm.sh/helm/v3/cmd/helm
)

log() { printf '[kube-toolchain] %s\n' "$*" >&2; }

# The stamp covers the wrapper's module files and the link flags, so a change to either rebuilds.
stamp_of() {
  { cat "$ROOT/hack/kube-toolchain/$1/go.mod" "$ROOT/hack/kube-toolchain/$1/go.sum"; ldflags_of "$1"; } | sha256sum | cut -c1-16
}

# The version string the binary reports, taken from the wrapper's go.mod so `--version` output is right.
ldflags_of() {
  local name=$1 mod=$ROOT/hack/kube-toolchain/$1/go.mod ver
  case $name in
    kube-apiserver|kubectl)
      ver=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$mod")
      local maj=${ver#v}; maj=${maj%%.*}; local min=${ver#v*.}; min=${min%%.*}
      local x=k8s.io/client-go/pkg/version c=k8s.io/component-base/version
      echo "-s -w -X $c.gitVersion=$ver -X $c.gitMajor=$maj -X $c.gitMinor=$min -X $c.gitTreeState=clean -X $x.gitVersion=$ver -X $x.gitMajor=$maj -X $x.gitMinor=$min"
      ;;
    helm)
      # As helm's own Makefile: the Kubernetes version helm assumes offline (`helm template`,
      # kubeVersion checks, lint deprecations) is derived from its client-go (v0.N -> 1.N).
      ver=$(awk '$1=="helm.sh/helm/v3"{print $2; exit}' "$mod")
      local cg; cg=$(awk '$1=="k8s.io/client-go"{print $2; exit}' "$mod"); cg=${cg#v}
      local kmaj=$(( ${cg%%.*} + 1 )) kmin; kmin=${cg#*.}; kmin=${kmin%%.*}
      local h=helm.sh/helm/v3/pkg
      echo "-s -w -X helm.sh/helm/v3/internal/version.version=$ver -X $h/lint/rules.k8sVersionMajor=$kmaj -X $h/lint/rules.k8sVersionMinor=$kmin -X $h/chartutil.k8sVersionMajor=$kmaj -X $h/chartutil.k8sVersionMinor=$kmin"
      ;;
    *) echo "-s -w" ;;
  esac
}

build_one() {
  local name=$1 dir=$ROOT/hack/kube-toolchain/$1 want have
  want=$(stamp_of "$name")
  have=$(cat "$BIN/.$name.stamp" 2>/dev/null || true)
  # Quiet when up to date: `make test` runs this every time.
  [[ -x $BIN/$name && $have == "$want" ]] && return
  log "$name: building ${PKG[$name]} (-p=$JOBS; a cold build takes minutes)"
  local t0=$SECONDS
  (cd "$dir" && go build -p="$JOBS" -trimpath -ldflags="$(ldflags_of "$name")" -o "$BIN/$name.tmp" "${PKG[$name]}")
  mv "$BIN/$name.tmp" "$BIN/$name"
  echo "$want" > "$BIN/.$name.stamp"
  log "$name: built in $((SECONDS - t0))s"
}

command -v go >/dev/null || { log "go is not installed (needed to build the control plane)"; exit 1; }
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(etcd kube-apiserver kubectl helm)
for n in "${names[@]}"; do
  [[ -n ${PKG[$n]:-} ]] || { log "unknown binary: $n"; exit 2; }
  build_one "$n"
done
