#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from Debian's `kubernetes` source package (all Go
# dependencies vendored, so it builds offline with Debian's golang-go) and caches them outside the
# repository, keyed by the source version. The Kubernetes tests start these binaries on 127.0.0.1.
#
# Prints the directory holding the two binaries. Exits at once when they are already cached.
# `--dir` only prints where they are (or would be) and exits 0 when cached, 1 when not.
# Facts behind each step: /work/shared/K8S-NOTES.md (docs/kubernetes.md, "Tests").
#
#   ZDD_KUBE_CACHE    cache root (default /var/cache/zdd-kube)
#   ZDD_KUBE_VERSION  Debian source version (default: the bookworm security update below)
set -euo pipefail

VERSION="${ZDD_KUBE_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
CACHE_ROOT="${ZDD_KUBE_CACHE:-/var/cache/zdd-kube}"
OUT="$CACHE_ROOT/$VERSION"
BINARIES=(kube-apiserver kube-controller-manager)

cached() { for b in "${BINARIES[@]}"; do [ -x "$OUT/$b" ] || return 1; done; }
if [ "${1:-}" = "--dir" ]; then echo "$OUT"; cached; exit $?; fi
if cached; then echo "$OUT"; exit 0; fi

mkdir -p "$CACHE_ROOT"
# One build at a time per cache (CI's background build and a test run may both ask).
exec 9>"$CACHE_ROOT/.build.lock"
flock 9
if cached; then echo "$OUT"; exit 0; fi

log() { echo "build-kube-control-plane: $*" >&2; }
started=$(date +%s)

# Build tools (Debian packages). A machine from the image usually has them; install what is missing.
need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v dpkg-source >/dev/null 2>&1 || need+=(dpkg-dev)
[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need+=(golang-github-modern-go-reflect2-dev)
[ -d /usr/share/gocode/src/github.com/json-iterator/go ] || need+=(golang-github-json-iterator-go-dev)

# apt-get source needs a deb-src twin of each deb entry.
if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "adding deb-src entries (/etc/apt/sources.list.d/zdd-deb-src.sources)"
  sed -n 's/^Types: deb$/Types: deb-src/; p' /etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/zdd-deb-src.sources
  apt_updated=
fi
if [ ${#need[@]} -gt 0 ] || [ -n "${apt_updated+x}" ] || ! apt-cache showsrc kubernetes 2>/dev/null | grep -qx "Version: $VERSION"; then
  log "apt-get update"
  apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

WORK="$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

log "downloading the source package kubernetes=$VERSION"
apt-get source --download-only -qq "kubernetes=$VERSION" >/dev/null
dsc=$(ls kubernetes_*.dsc)
dpkg-source -x "$dsc" src >/dev/null
SRC="$WORK/src"

# The vendored reflect2 1.0.1 crashes on Go >= 1.18 (`fatal error: fault` in mapiternext the first
# time a custom resource is stored): use Debian's reflect2 1.0.2 and json-iterator 1.1.12 instead.
replace_vendored() {
  local from="$1" to="$SRC/vendor/$2"
  rm -rf "$to"
  mkdir -p "$to"
  rsync -a --exclude '*_test.go' --exclude '.git*' "$from/" "$to/"
}
replace_vendored /usr/share/gocode/src/github.com/modern-go/reflect2 github.com/modern-go/reflect2
replace_vendored /usr/share/gocode/src/github.com/json-iterator/go github.com/json-iterator/go

# Kubernetes 1.20's build expects a GOPATH layout with the tree at k8s.io/kubernetes.
mkdir -p "$WORK/.go/src/k8s.io"
ln -s "$SRC" "$WORK/.go/src/k8s.io/kubernetes"
cd "$WORK/.go/src/k8s.io/kubernetes"
export GOPATH="$WORK/.go" GOCACHE="$WORK/.gocache" CGO_ENABLED=0
# providerless: leave out the in-tree cloud providers (AWS, Azure, GCE, OpenStack, vSphere SDKs), which
# the tests never use: 53 MB of Go source to compile instead of 94 MB, so a fresh machine's build (and
# the CI run it overlaps) takes much less CPU.
export GOFLAGS="-tags=providerless"
upstream="${VERSION#*really}"; upstream="${upstream%%[-+]*}"     # 1.20.5+really1.20.2-1.1 → 1.20.2
export KUBE_GIT_VERSION="v$upstream" KUBE_GIT_TREE_STATE=clean
whats=""
for b in "${BINARIES[@]}"; do whats+="cmd/$b "; done
log "go build ${whats}(about 7 min on 2 quiet cores; 75 min was seen at nice 19 on a machine with load 15)"
make WHAT="${whats% }" >"$WORK/make.log" 2>&1 || { tail -40 "$WORK/make.log" >&2; log "make failed"; exit 1; }

mkdir -p "$OUT.partial"
for b in "${BINARIES[@]}"; do cp "_output/local/bin/linux/amd64/$b" "$OUT.partial/$b" 2>/dev/null || cp "_output/bin/$b" "$OUT.partial/$b"; done
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
log "built in $(( $(date +%s) - started )) s"
echo "$OUT"
