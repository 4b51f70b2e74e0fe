#!/usr/bin/env bash
# Installs every tool the local platform needs, idempotently, into a cache outside the repo.
#
# Called by `make tools` (and so by `make up`, `make test`, `make demo`). Each tool lands in
# $KUBESAGA_CACHE/<tool>-<version>/ and is marked complete only after it built, so an
# interrupted build is redone and a finished one is never rebuilt. Versions are pinned in
# versions.env. Prints one line per tool saying whether it came from the cache or was built.
#
# Usage: infra/local/install.sh [--help]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${KUBESAGA_CACHE:-$HOME/.cache/kubesaga}
heartbeat_seconds=30

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo
  echo "Environment: KUBESAGA_CACHE (default ~/.cache/kubesaga), now $cache"
}

log() { printf '%-14s %-10s %s\n' "$1" "$2" "$3"; }

# Runs a long command with its output in a log file, printing a heartbeat so a cold build
# never looks hung; on failure shows the end of the log.
run_logged() {
  local name=$1 logfile=$2; shift 2
  local started=$SECONDS
  "$@" >"$logfile" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq "$heartbeat_seconds"); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill -0 "$pid" 2>/dev/null && echo "  ... $name: still working ($((SECONDS - started))s, log: $logfile)"
  done
  if ! wait "$pid"; then
    echo "install: $name failed after $((SECONDS - started))s; last lines of $logfile:" >&2
    tail -n 30 "$logfile" >&2
    return 1
  fi
}

# install_tool NAME VERSION BUILD_FUNCTION: skips when the cache entry is complete.
install_tool() {
  local name=$1 version=$2 build=$3
  local dir="$cache/$name-$version"
  if [[ -f "$dir/.complete" ]]; then
    log "$name" "$version" "cached   $dir"
    return
  fi
  echo "$name $version: not cached, building into $dir"
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  local started=$SECONDS
  "$build" "$dir" "$version"
  touch "$dir/.complete"
  log "$name" "$version" "built    in $((SECONDS - started))s"
}

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "install: '$1' is required but not on PATH ($2)" >&2
    exit 1
  }
}

# The wrapper module's own files name the build, so a changed wrapper (a program added to the
# multi-call binary) is rebuilt rather than taken from an older cache entry.
# infra/local/settings.py computes the same digest to find the binary.
k8s_wrapper_digest() {
  cat "$here/k8s/go.mod" "$here/k8s/go.sum" "$here/k8s/main.go" | sha256sum | cut -c1-8
}

build_k8s() {
  local dir=$1 version=${K8S_VERSION} minor
  minor=$(echo "$version" | cut -d. -f2)
  echo "  compiling etcd, kube-apiserver, controller-manager, scheduler, kubectl, kubelet and"
  echo "  kube-proxy as one binary; a cold build takes about 10 minutes on 2 cores"
  (cd "$here/k8s" && run_logged kubesaga-k8s "$dir/build.log" \
    go build -trimpath -o "$dir/bin/kubesaga-k8s" -ldflags "-s -w \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/component-base/version.gitVersion=$version \
      -X k8s.io/component-base/version.gitTreeState=clean \
      -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z" .)
  for command in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
    ln -sf kubesaga-k8s "$dir/bin/$command"
  done
}

go_install() {
  local dir=$1 package=$2; shift 2
  GOBIN="$dir/bin" run_logged "$package" "$dir/build.log" go install -trimpath "$@" "$package"
}

# kwok simulates kubelets through Stage objects; its binary embeds none, so take upstream's
# "fast" node and pod stages (Ready at once, heartbeats through Leases) from the module source.
build_kwok() {
  local dir=$1 version=$2 source stage
  go_install "$dir" "sigs.k8s.io/kwok/cmd/kwok@$version" -ldflags "-s -w"
  source="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$version/kustomize/stage"
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    echo "---"
    cat "$source/$stage.yaml"
  done >"$dir/stages.yaml"
}
build_helm() { go_install "$1" "helm.sh/helm/v3/cmd/helm@$2" -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$2"; }
build_stripe_mock() { go_install "$1" "github.com/stripe/stripe-mock@$2" -ldflags "-s -w"; }
build_coredns() { go_install "$1" "github.com/coredns/coredns@$2" -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$2"; }
build_metrics_server() {
  go_install "$1" "sigs.k8s.io/metrics-server/cmd/metrics-server@$2" \
    -ldflags "-s -w -X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$2"
}

# wrapper_digest DIR: the first 8 hex digits of a wrapper module's go.mod and go.sum, so a
# changed wrapper is rebuilt rather than taken from an older cache entry (settings.py agrees).
wrapper_digest() { cat "$here/$1/go.mod" "$here/$1/go.sum" | sha256sum | cut -c1-8; }

# go_tool DIR WRAPPER PACKAGE LDFLAGS: builds a `tool` of a wrapper module into DIR/bin.
go_tool() {
  local dir=$1 wrapper=$2 package=$3 ldflags=$4
  (cd "$here/$wrapper" && run_logged "${package##*/}" "$dir/build-${package##*/}.log" \
    go build -trimpath -o "$dir/bin/${package##*/}" -ldflags "-s -w $ldflags" "$package")
}

build_skaffold() {
  local dir=$1 version=${SKAFFOLD_VERSION}
  echo "  a cold build takes about 4 minutes on 2 cores"
  go_tool "$dir" skaffold github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold \
    "-X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$version"
}

build_prometheus_operator() {
  local dir=$1 version=${PROMETHEUS_OPERATOR_VERSION} source
  # Without the version the operator's default config-reloader image tag would be ":v".
  local ldflags="-X github.com/prometheus/common/version.Version=${version#v} \
    -X github.com/prometheus/common/version.Revision=$version \
    -X github.com/prometheus/common/version.Branch=release"
  go_tool "$dir" prometheus-operator github.com/prometheus-operator/prometheus-operator/cmd/operator "$ldflags"
  go_tool "$dir" prometheus-operator \
    github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader "$ldflags"
  # The CRDs and the RBAC the operator needs come from the module's own source.
  source="$(go env GOMODCACHE)/github.com/prometheus-operator/prometheus-operator@$version"
  mkdir -p "$dir/manifests"
  cp "$source"/example/prometheus-operator-crd/*.yaml "$dir/manifests/"
  cp "$source/bundle.yaml" "$dir/manifests/bundle.yaml"
  chmod -R u+w "$dir/manifests"
}

build_prometheus() {
  local dir=$1 version=${PROMETHEUS_VERSION} module=${PROMETHEUS_MODULE_VERSION} command
  local ldflags="-s -w -X github.com/prometheus/common/version.Version=${version#v} \
    -X github.com/prometheus/common/version.Revision=$module \
    -X github.com/prometheus/common/version.Branch=release"
  echo "  prometheus and promtool; a cold build takes about 5 minutes on 2 cores"
  for command in prometheus promtool; do
    go_install "$dir" "github.com/prometheus/prometheus/cmd/$command@$module" -ldflags "$ldflags"
  done
}

# The sandbox ("pause") binary every pod starts first: holds the pod's namespaces and reaps
# zombies. Static, so its image needs no libc; infra/local/node/images.py packs it.
build_pause() {
  local dir=$1
  gcc -static -O2 -Wall -o "$dir/bin/pause" "$here/node/pause.c"
  strip "$dir/bin/pause"
}

build_kafka() {
  local dir=$1 version=$2
  echo "  resolving the broker's jars from Maven Central"
  run_logged kafka "$dir/build.log" \
    mvn -B -f "$here/kafka/pom.xml" -Dkafka.version="$version" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/libs"
  ls "$dir/libs"/kafka_2.13-"$version".jar >/dev/null
}

build_uv() {
  local dir=$1 version=$2
  python3 -m venv "$dir/venv"
  run_logged uv "$dir/build.log" "$dir/venv/bin/pip" install --disable-pip-version-check "uv==$version"
  ln -sf ../venv/bin/uv "$dir/bin/uv"
}

# apt_install LOG PACKAGE...: Debian packages whose maintainer scripts would start system-wide
# daemons (postgresql, redis-server, containerd); a temporary policy-rc.d stops that, since
# `make up` runs its own, inside the platform's state folder.
apt_install() {
  local logfile=$1; shift
  echo "installing $* from Debian's packages"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  local policy=/usr/sbin/policy-rc.d created_policy=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    created_policy=1
  fi
  local status=0
  run_logged apt-get "$logfile" bash -c \
    "$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $*" || status=$?
  [[ -z $created_policy ]] || $sudo rm -f "$policy"
  return "$status"
}

# Postgres and Redis come from Debian's packages; `make up` runs its own servers.
install_debian_servers() {
  local missing=()
  [[ -x "$(pg_bindir)/postgres" ]] || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "$cache/apt.log" "${missing[@]}"
  fi
  log postgres "$("$(pg_bindir)/postgres" --version | awk '{print $3}')" "system   $(pg_bindir)"
  log redis "$(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/')" "system   $(command -v redis-server)"
}

# The real worker node's runtime, from Debian's packages: containerd 1.6 (the kubelet
# accepts it, and a Debian package saves building containerd 2 from source), runc, the CNI
# plugins, iptables for kube-proxy, socat for the apiserver relay, gcc and the static libc to
# build the pause binary, umoci to pack OCI images, and a static busybox for the test image.
install_debian_node() {
  local missing=() check
  for check in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
    iptables:iptables socat:socat gcc:gcc /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev \
    umoci:umoci /bin/busybox:busybox-static; do
    local what=${check%%:*} package=${check#*:}
    if [[ $what == /* ]]; then [[ -e $what ]] || missing+=("$package")
    else command -v "$what" >/dev/null 2>&1 || missing+=("$package"); fi
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "$cache/apt-node.log" "${missing[@]}"
  fi
  log containerd "$(containerd --version | awk '{print $3}')" "system   $(command -v containerd)"
  log runc "$(runc --version | awk 'NR==1 {print $3}')" "system   $(command -v runc)"
}

# The image builder (`make images`) and its tests: mmdebstrap makes the Debian base, buildah
# builds the Containerfiles, umoci unpacks an image into a runtime bundle and runc runs it.
# None of them runs a daemon; the policy-rc.d guard is kept for their dependencies.
install_image_tools() {
  local missing=() tool
  for tool in mmdebstrap buildah umoci runc; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log images "-" "system   mmdebstrap buildah umoci runc"
    return
  fi
  apt_install "$cache/apt-images.log" "${missing[@]}"
  log images "-" "installed ${missing[*]}"
}

# Debian keeps postgres off PATH, under /usr/lib/postgresql/<major>/bin; take the newest.
pg_bindir() {
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  echo "${newest:-/usr/lib/postgresql/15/bin}"
}

main() {
  if [[ ${1:-} == "--help" || ${1:-} == "-h" ]]; then usage; exit 0; fi
  need go "the Go toolchain builds the Kubernetes control plane, kwok, helm and stripe-mock"
  need java "Java 17+ runs the Kafka broker"
  need mvn "Maven resolves the Kafka broker from Maven Central"
  need python3 "Python 3.11+ runs the project"
  mkdir -p "$cache"
  echo "kubesaga tools (cache: $cache)"
  install_debian_servers
  install_image_tools
  install_tool uv "$UV_VERSION" build_uv
  install_tool kafka "$KAFKA_VERSION" build_kafka
  install_tool stripe-mock "$STRIPE_MOCK_VERSION" build_stripe_mock
  install_tool helm "$HELM_VERSION" build_helm
  install_tool kwok "$KWOK_VERSION" build_kwok
  install_tool kubesaga-k8s "$K8S_VERSION-$(k8s_wrapper_digest)" build_k8s
  install_debian_node
  install_tool coredns "$COREDNS_VERSION" build_coredns
  install_tool metrics-server "$METRICS_SERVER_VERSION" build_metrics_server
  install_tool pause "$PAUSE_VERSION-$(sha256sum "$here/node/pause.c" | cut -c1-8)" build_pause
  install_tool skaffold "$SKAFFOLD_VERSION-$(wrapper_digest skaffold)" build_skaffold
  install_tool prometheus "$PROMETHEUS_VERSION" build_prometheus
  install_tool prometheus-operator "$PROMETHEUS_OPERATOR_VERSION-$(wrapper_digest prometheus-operator)" \
    build_prometheus_operator
}

main "$@"
