#!/usr/bin/env bash
# Builds the e2e bed from Go modules, pinned by versions.env and package-lock.json, into a cache outside the repo:
#   ${ISTIO_MC_BED_CACHE:-$HOME/.cache/istio-multicluster-bed}/<tool>-<version>/   (one folder per tool and version)
#   <cache>/bin/                                                                 (symlinks: PATH-ready)
#   <cache>/istio-<ver>/bin/pilot-discovery, <cache>/istio-<ver>/charts/{base,istiod,gateway}
#   <cache>/istio-proxyless-<ver>/bin/{pilot-agent,echo-server,echo-client}      (ISTIO_PROXYLESS_VERSION only)
# Each piece is skipped when its stamp file holds the version. Usage: build.sh [piece...] (default: all).
# Pieces: etcd kubernetes kwok helm istio istio-proxyless pulumi kubernetes-provider. Each writes a SOURCE file saying what it was
# built from. The tls provider is refused by the Go module proxy: test/e2e/tls-stand-in/ stands in for it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck disable=SC1091
set -a; source "$ROOT/test/e2e/bed/versions.env"; set +a
CACHE=${ISTIO_MC_BED_CACHE:-$HOME/.cache/istio-multicluster-bed}
mkdir -p "$CACHE/bin"
CACHE=$(cd "$CACHE" && pwd); export CACHE ROOT
export CGO_ENABLED=${CGO_ENABLED:-0} GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN=${GOTOOLCHAIN:-local}
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy || true

lock_version() { # npm package name -> version in package-lock.json
    node -e 'const l=require(process.argv[1]);const p=l.packages["node_modules/"+process.argv[2]];if(!p){process.exit(1)}console.log(p.version)' \
        "$ROOT/package-lock.json" "$1"
}

# go_module_dir MODULE@VERSION -> prints the extracted module directory in the module cache
go_module_dir() { (cd "$CACHE" && go mod download -json "$1") | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})'; }
go_module_gomod() { (cd "$CACHE" && go mod download -json "$1") | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.GoMod)})'; }

# nonlocal_replaces GOMOD -> the replace directives of a go.mod whose target is a module (not ./ or ../ paths)
nonlocal_replaces() {
    node -e '
const src=require("fs").readFileSync(process.argv[1],"utf8");
const out=[];let inBlock=false;
for (const raw of src.split("\n")) { const line=raw.replace(/\/\/.*$/,"").trim();
  if (inBlock) { if (line===")") { inBlock=false; continue; } if (line) out.push(line); continue; }
  if (/^replace\s*\($/.test(line)) { inBlock=true; continue; }
  const m=/^replace\s+(.*)$/.exec(line); if (m) out.push(m[1]); }
for (const r of out) { const [, to]=r.split("=>").map(s=>s.trim()); if (to.startsWith(".")||to.startsWith("/")) continue; console.log("replace "+r); }
' "$1"
}

# new_module DIR NAME -> fresh throwaway module
new_module() { rm -rf "$1"; mkdir -p "$1"; (cd "$1" && go mod init "$2" >/dev/null 2>&1); }

FAILED=0
# piece NAME VERSION FUNCTION: runs FUNCTION in <cache>/NAME-VERSION unless its stamp says VERSION
piece() {
    local name=$1 version=$2 fn=$3 dir="$CACHE/$1-$2" start end
    start=$(date +%s)
    if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$version" ]]; then
        end=$(date +%s); printf '%-22s %-28s cached %4ss\n' "$name" "$version" $((end - start)); link_bins "$dir"; return 0
    fi
    mkdir -p "$dir"; rm -f "$dir/.stamp"
    printf '%-22s %-28s building (log: %s)\n' "$name" "$version" "$dir/build.log"
    # A child bash, so that `set -e` holds inside the piece (it is ignored in a subshell tested by `if`).
    if (cd "$dir" && bash -euo pipefail -c "$(declare -f); $fn \"\$@\"" bash "$dir" "$version") >"$dir/build.log" 2>&1; then
        echo "$version" >"$dir/.stamp"; end=$(date +%s)
        echo "$name $version built $((end - start))s" >>"$CACHE/timings.log"
        printf '%-22s %-28s built  %4ss\n' "$name" "$version" $((end - start)); link_bins "$dir"
    else
        end=$(date +%s)
        printf '%-22s %-28s FAILED after %ss; last lines of %s:\n' "$name" "$version" $((end - start)) "$dir/build.log" >&2
        tail -n 25 "$dir/build.log" >&2; FAILED=1; return 1
    fi
}
link_bins() { [[ -f "$1/.nolink" || ! -d "$1/bin" ]] && return 0; local f; for f in "$1"/bin/*; do ln -sfn "$f" "$CACHE/bin/$(basename "$f")"; done; }

# ---------------------------------------------------------------- etcd
build_etcd() { local dir=$1 v=v$2
    new_module "$dir/src" bed/etcd; cd "$dir/src"
    go mod edit -require "go.etcd.io/etcd/server/v3@$v"
    nonlocal_replaces "$(go_module_gomod "go.etcd.io/etcd/server/v3@$v")" >>go.mod
    # etcd's own go.mod replaces its sibling modules with ../; pin them to the same release instead.
    for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do go mod edit -replace "go.etcd.io/etcd/$m=go.etcd.io/etcd/$m@$v"; done
    printf '//go:build tools\npackage main\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
    go mod tidy -e
    go build -trimpath -ldflags "-s -w" -o "$dir/bin/etcd" go.etcd.io/etcd/server/v3
    "$dir/bin/etcd" --version
}

# ---------------------------------------------------------------- kube-apiserver, -controller-manager, -scheduler, kubectl
build_kubernetes() { local dir=$1 v=v$2 minor
    minor=$(echo "$2" | cut -d. -f2)
    new_module "$dir/src" bed/kubernetes; cd "$dir/src"
    local gomod; gomod=$(go_module_gomod "k8s.io/kubernetes@$v")
    go mod edit -require "k8s.io/kubernetes@$v"
    nonlocal_replaces "$gomod" >>go.mod
    # Staging modules: required at v0.0.0 with ./staging replaces; pin each to its published v0.<minor>.<patch>.
    local sv="v0.${2#1.}"
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | while read -r m; do
        go mod edit -replace "$m=$m@$sv"; done
    cat >tools.go <<'GO'
//go:build tools
package main
import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy -e
    local X=k8s.io/component-base/version
    go build -trimpath -ldflags "-s -w -X $X.gitVersion=$v -X $X.gitMajor=1 -X $X.gitMinor=$minor -X $X.gitTreeState=clean -X $X.buildDate=1970-01-01T00:00:00Z -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor" \
        -o "$dir/bin/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
    "$dir/bin/kube-apiserver" --version
}

# ---------------------------------------------------------------- kwok (+ its stage YAMLs)
build_kwok() { local dir=$1 v=v$2
    new_module "$dir/src" bed/kwok; cd "$dir/src"
    go mod edit -require "sigs.k8s.io/kwok@$v"
    nonlocal_replaces "$(go_module_gomod "sigs.k8s.io/kwok@$v")" >>go.mod
    printf '//go:build tools\npackage main\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n' >tools.go
    go mod tidy -e
    go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$v" -o "$dir/bin/kwok" sigs.k8s.io/kwok/cmd/kwok
    local mdir; mdir=$(go_module_dir "sigs.k8s.io/kwok@$v")
    rm -rf "$dir/stages"; mkdir -p "$dir/stages"; cp -r "$mdir/kustomize/stage/." "$dir/stages/"; chmod -R u+w "$dir/stages"
    "$dir/bin/kwok" --version || true
}

# ---------------------------------------------------------------- helm (the v3 CLI; the version pulumi-kubernetes embeds)
build_helm() { local dir=$1 v=v$2
    new_module "$dir/src" bed/helm; cd "$dir/src"
    go mod edit -require "helm.sh/helm/v3@$v"
    nonlocal_replaces "$(go_module_gomod "helm.sh/helm/v3@$v")" >>go.mod
    printf '//go:build tools\npackage main\nimport _ "helm.sh/helm/v3/cmd/helm"\n' >tools.go
    go mod tidy -e
    go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
        -o "$dir/bin/helm" helm.sh/helm/v3/cmd/helm
    "$dir/bin/helm" version --short
}

# ---------------------------------------------------------------- Istio: pilot-discovery + charts, per version
istio_module_version() { local key="ISTIO_MODULE_${1//./_}"; echo "${!key:-$1}"; }
build_istio() { local dir=$1 v=$2 mv; mv=$(istio_module_version "$2")
    # Charts first (they need no dependency), so they are there even if pilot-discovery cannot be built.
    local mdir; mdir=$(go_module_dir "istio.io/istio@$mv")
    # Charts, patched as istio/release-builder does for a release: version/appVersion and the default image tag.
    rm -rf "$dir/charts"; mkdir -p "$dir/charts"
    cp -r "$mdir/manifests/charts/base" "$dir/charts/base"
    cp -r "$mdir/manifests/charts/istio-control/istio-discovery" "$dir/charts/istiod"
    cp -r "$mdir/manifests/charts/gateway" "$dir/charts/gateway"
    chmod -R u+w "$dir/charts"
    local c
    for c in base istiod gateway; do
        sed -i -e "s/^version: .*/version: $v/" -e "s/^appVersion: .*/appVersion: $v/" "$dir/charts/$c/Chart.yaml"
        # The source's test defaults (hub registry.istio.io/testing, tag latest) become the release's.
        sed -i -e "s#^\(\s*\)hub: registry.istio.io/testing\s*\$#\1hub: docker.io/istio#" \
               -e "s#^\(\s*\)tag: latest\s*\$#\1tag: $v#" "$dir/charts/$c/values.yaml"
        grep -q "^version: $v\$" "$dir/charts/$c/Chart.yaml"
    done
    grep -q "tag: $v" "$dir/charts/istiod/values.yaml"
    new_module "$dir/src" bed/istio; cd "$dir/src"
    go mod edit -require "istio.io/istio@$mv"
    local gomod; gomod=$(go_module_gomod "istio.io/istio@$mv")
    nonlocal_replaces "$gomod" >>go.mod
    # Dependencies of that commit the proxy does not serve, replaced by versions it does (versions.env says why).
    local rkey="ISTIO_GO_REPLACES_${v//./_}" r
    for r in ${!rkey:-}; do go mod edit -replace "$r"; done
    printf '//go:build tools\npackage main\nimport _ "istio.io/istio/pilot/cmd/pilot-discovery"\n' >tools.go
    go mod tidy -e
    local X=istio.io/istio/pkg/version rev=${mv##*-}
    go build -trimpath -tags "${ISTIO_GO_TAGS:-}" -ldflags "-s -w -X $X.buildVersion=$v -X $X.buildGitRevision=$rev -X $X.buildStatus=Clean -X $X.buildTag=$v -X $X.buildHub=docker.io/istio -X $X.buildOS=linux -X $X.buildArch=amd64" \
        -o "$dir/bin/pilot-discovery" istio.io/istio/pilot/cmd/pilot-discovery
    "$dir/bin/pilot-discovery" version --short
    printf 'istio %s built from istio.io/istio@%s%s\n' "$v" "$mv" "${!rkey:+ with replace ${!rkey}}" >"$dir/SOURCE"
    touch "$dir/.nolink"
}
main_istio() { local v; for v in $ISTIO_VERSIONS; do piece istio "$v" build_istio || true; done; }

# ---------------------------------------------------------------- Istio's proxyless data plane, one version
# pilot-agent (DISABLE_ENVOY=true: certificates and xDS for a gRPC app, no Envoy) and Istio's echo server and client
# (grpc-go xDS with mTLS), from the same istio.io/istio module, replaces and version stamps as the istio piece of
# ISTIO_PROXYLESS_VERSION. Build tags as Istio's Makefile.core.mk: the agent's for pilot-agent, the bed's
# pilot-discovery tags (ISTIO_GO_TAGS, default none) for echo, so echo shares its compiled packages.
build_istio_proxyless() { local dir=$1 v=$2 mv; mv=$(istio_module_version "$2")
    new_module "$dir/src" bed/istio-proxyless; cd "$dir/src"
    go mod edit -require "istio.io/istio@$mv"
    nonlocal_replaces "$(go_module_gomod "istio.io/istio@$mv")" >>go.mod
    local rkey="ISTIO_GO_REPLACES_${v//./_}" r
    for r in ${!rkey:-}; do go mod edit -replace "$r"; done
    cat >tools.go <<'GO'
//go:build tools
package main
import (
	_ "istio.io/istio/pilot/cmd/pilot-agent"
	_ "istio.io/istio/pkg/test/echo/cmd/client"
	_ "istio.io/istio/pkg/test/echo/cmd/server"
)
GO
    go mod tidy -e
    local X=istio.io/istio/pkg/version rev=${mv##*-}
    local ld="-s -w -X $X.buildVersion=$v -X $X.buildGitRevision=$rev -X $X.buildStatus=Clean -X $X.buildTag=$v -X $X.buildHub=docker.io/istio -X $X.buildOS=linux -X $X.buildArch=amd64"
    go build -trimpath -tags "${ISTIO_AGENT_GO_TAGS:-agent,disable_pgv,grpcnotrace,retrynotrace}" -ldflags "$ld" \
        -o "$dir/bin/pilot-agent" istio.io/istio/pilot/cmd/pilot-agent
    go build -trimpath -tags "${ISTIO_GO_TAGS:-}" -ldflags "$ld" -o "$dir/bin/echo-server" istio.io/istio/pkg/test/echo/cmd/server
    go build -trimpath -tags "${ISTIO_GO_TAGS:-}" -ldflags "$ld" -o "$dir/bin/echo-client" istio.io/istio/pkg/test/echo/cmd/client
    "$dir/bin/pilot-agent" version --short
    "$dir/bin/echo-server" --help >/dev/null
    "$dir/bin/echo-client" --help >/dev/null
    printf 'istio-proxyless %s (pilot-agent, echo server and client) built from istio.io/istio@%s%s\n' "$v" "$mv" "${!rkey:+ with replace ${!rkey}}" >"$dir/SOURCE"
    touch "$dir/.nolink"
}
main_istio-proxyless() { piece istio-proxyless "$ISTIO_PROXYLESS_VERSION" build_istio_proxyless; }

# ---------------------------------------------------------------- the real Pulumi engine: CLI and kubernetes provider
# Pinned in versions.env. No Node.js language host: the suites run inline programs through the Automation API, which
# serves the program from the Node process itself (`--client`). The tls provider's module is refused by the Go module
# proxy: test/e2e/tls-stand-in/ stands in for it.
build_pulumi() { local dir=$1 v=v$2
    new_module "$dir/src" bed/pulumi; cd "$dir/src"
    go get "github.com/pulumi/pulumi/pkg/v3@$v" "github.com/pulumi/pulumi/sdk/v3@$v"
    nonlocal_replaces "$(go_module_gomod "github.com/pulumi/pulumi/pkg/v3@$v")" >>go.mod
    printf '//go:build tools\npackage main\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' >tools.go
    # Fills go.sum for the main package's own dependencies (automaxprocs, appdash-data).
    go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$v"
    go mod tidy
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" \
        -o "$dir/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    "$dir/bin/pulumi" version | grep -qx "$v"
    printf 'pulumi CLI %s built from github.com/pulumi/pulumi/pkg/v3@%s\n' "$v" "$v" >"$dir/SOURCE"
}
build_kubernetes_provider() { local dir=$1 v=$2
    local pm=github.com/pulumi/pulumi-kubernetes/provider/v4 mv=$KUBERNETES_PROVIDER_MODULE
    new_module "$dir/src" bed/pulumi-resource-kubernetes; cd "$dir/src"
    go mod edit -require "$pm@$mv"
    nonlocal_replaces "$(go_module_gomod "$pm@$mv")" >>go.mod
    # The provider's main embeds schema-embed.json and terraform-mapping-embed.json, which its own build makes from
    # the committed schema.json (with the version set) and terraform-mapping.json; they are not in the module zip.
    # Its main.go and generate.go, copied beside those two files, do exactly that here.
    local mdir; mdir=$(go_module_dir "$pm@$mv")
    rm -rf cmd; cp -r "$mdir/cmd/pulumi-resource-kubernetes" cmd; chmod -R u+w cmd
    printf '//go:build tools\npackage main\nimport _ "%s/pkg/provider"\n' "$pm" >tools.go
    go mod tidy
    (cd cmd && VERSION=$v go run generate.go && rm generate.go)
    go build -trimpath -ldflags "-s -w -X $pm/pkg/version.Version=$v" -o "$dir/bin/pulumi-resource-kubernetes" ./cmd
    printf 'pulumi-resource-kubernetes %s built from %s@%s (the commit of tag v%s)\n' "$v" "$pm" "$mv" "$v" >"$dir/SOURCE"
}
main_pulumi() {
    # The CLI must not be older than the Node.js SDK that drives it.
    local sdk; sdk=$(lock_version @pulumi/pulumi)
    if [[ "$(printf '%s\n%s\n' "$sdk" "$PULUMI_VERSION" | sort -V | head -1)" != "$sdk" ]]; then
        echo "PULUMI_VERSION=$PULUMI_VERSION in versions.env is older than @pulumi/pulumi $sdk in package-lock.json" >&2; FAILED=1; return 1; fi
    piece pulumi "$PULUMI_VERSION" build_pulumi
}
main_kubernetes-provider() { piece pulumi-resource-kubernetes "$KUBERNETES_PROVIDER_VERSION" build_kubernetes_provider; }

main() {
    local want=("$@")
    if [[ ${#want[@]} -eq 0 ]]; then
        want=(etcd kubernetes kwok helm istio istio-proxyless pulumi kubernetes-provider)
    fi
    local t0; t0=$(date +%s)
    for p in "${want[@]}"; do
        case $p in
            etcd) piece etcd "$ETCD_VERSION" build_etcd || true ;;
            kubernetes) piece kubernetes "$KUBERNETES_VERSION" build_kubernetes || true ;;
            kwok) piece kwok "$KWOK_VERSION" build_kwok || true ;;
            helm) piece helm "$HELM_VERSION" build_helm || true ;;
            *) if declare -F "main_$p" >/dev/null; then "main_$p" || true; else echo "unknown piece $p" >&2; FAILED=1; fi ;;
        esac
    done
    echo "total $(( $(date +%s) - t0 ))s"
    cat <<ENV
# environment for the bed:
export ISTIO_MC_BED_CACHE=$CACHE
export PATH=$CACHE/bin:\$PATH
ENV
    for v in $ISTIO_VERSIONS; do
        echo "# istio $v: $CACHE/istio-$v/bin/pilot-discovery; charts (istioChartSource): $CACHE/istio-$v/charts"; done
    echo "# istio $ISTIO_PROXYLESS_VERSION proxyless data plane: $CACHE/istio-proxyless-$ISTIO_PROXYLESS_VERSION/bin/{pilot-agent,echo-server,echo-client}"
    if [[ $FAILED -ne 0 ]]; then echo "build.sh: some pieces failed (see above)" >&2; exit 1; fi
}
main "$@"
