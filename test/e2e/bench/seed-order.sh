#!/usr/bin/env bash
# What the hand-run tutorials do, in their order, one cluster after the other, timed step by step: the baseline
# the benchmark suite (test/e2e/benchmark.e2e.ts) runs beside the engine's `pulumi up` on the same bed.
#
# The AKS tutorial's order (istioctl there; Helm and the same official charts here, as this product installs them):
#   1. CA files: a root, then per cluster an intermediate signed by it (Istio's tools/certificates/Makefile.selfsigned.mk)
#   2. per cluster: namespace istio-system, Secret cacerts, the network label
#   3. per cluster: base, then istiod (--wait), then for more than one network the east-west gateway (--wait) and
#      the cross-network Gateway
#   4. per ordered pair: a reader token in the source, its kubeconfig as the remote secret in the target
#      (what `istioctl create-remote-secret | kubectl apply` does)
#   5. per cluster: namespace sample (injection label), helloworld and curl
#
# Env: CLUSTERS="name=network=kubeconfig ..." (in order), CHARTS (directory with base/ istiod/ gateway/), MESH_ID,
# ISTIO_VERSION, WORK (a scratch directory). kubectl, helm and openssl on PATH. Prints "step <name> <seconds>" lines.
set -euo pipefail
: "${CLUSTERS:?}" "${CHARTS:?}" "${MESH_ID:?}" "${ISTIO_VERSION:?}" "${WORK:?}"
mkdir -p "$WORK"; cd "$WORK"
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }
step() { local name=$1; shift; local t0; t0=$(now); "$@"; echo "step $name $(since "$t0")"; }
networks=$(for c in $CLUSTERS; do echo "${c#*=}" | cut -d= -f1; done | sort -u | wc -l)

ca_root() {
    openssl req -x509 -newkey rsa:4096 -nodes -sha256 -days 3650 -keyout root-key.pem -out root-cert.pem \
        -subj "/O=Istio/CN=Root CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,keyCertSign" 2>/dev/null
}
ca_cluster() { local n=$1
    mkdir -p "$n"
    openssl req -newkey rsa:4096 -nodes -sha256 -keyout "$n/ca-key.pem" -out "$n/cluster-ca.csr" -subj "/O=Istio/CN=Intermediate CA/L=$n" 2>/dev/null
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,keyCertSign\nsubjectAltName=URI:spiffe://cluster.local/ns/istio-system/sa/citadel\n' >"$n/ext"
    openssl x509 -req -sha256 -days 730 -in "$n/cluster-ca.csr" -CA root-cert.pem -CAkey root-key.pem -CAcreateserial \
        -out "$n/ca-cert.pem" -extfile "$n/ext" 2>/dev/null
    cat "$n/ca-cert.pem" root-cert.pem >"$n/cert-chain.pem"; cp root-cert.pem "$n/root-cert.pem"
}
k() { local kc=$1; shift; kubectl --kubeconfig "$kc" "$@" >/dev/null; }
namespace() { local n=$1 net=$2 kc=$3
    k "$kc" create namespace istio-system
    k "$kc" create secret generic cacerts -n istio-system --from-file="$n/ca-cert.pem" --from-file="$n/ca-key.pem" \
        --from-file="$n/root-cert.pem" --from-file="$n/cert-chain.pem"
    k "$kc" label namespace istio-system "topology.istio.io/network=$net"
}
helm_install() { local kc=$1; shift; helm --kubeconfig "$kc" install "$@" -n istio-system >/dev/null; }
istio() { local n=$1 net=$2 kc=$3
    helm_install "$kc" istio-base "$CHARTS/base" --set "global.istioNamespace=istio-system"
    helm_install "$kc" istiod "$CHARTS/istiod" --wait --timeout 10m --set "global.meshID=$MESH_ID" \
        --set "global.multiCluster.clusterName=$n" --set "global.network=$net" --set "global.hub=docker.io/istio" --set "global.tag=$ISTIO_VERSION"
    if [[ $networks -gt 1 ]]; then
        helm_install "$kc" istio-eastwestgateway "$CHARTS/gateway" --wait --timeout 10m --set name=istio-eastwestgateway \
            --set "networkGateway=$net"
        kubectl --kubeconfig "$kc" apply -n istio-system -f - >/dev/null <<YAML
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: cross-network-gateway }
spec:
  selector: { istio: eastwestgateway }
  servers:
  - port: { number: 15443, name: tls, protocol: TLS }
    tls: { mode: AUTO_PASSTHROUGH }
    hosts: ["*.local"]
YAML
    fi
}
remote_secret() { local src=$1 src_kc=$2 tgt_kc=$3
    kubectl --kubeconfig "$src_kc" apply -n istio-system -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: { name: istio-reader-token-seed, annotations: { kubernetes.io/service-account.name: istio-reader-service-account } }
type: kubernetes.io/service-account-token
YAML
    local token=""; for _ in $(seq 100); do
        token=$(kubectl --kubeconfig "$src_kc" get secret -n istio-system istio-reader-token-seed -o jsonpath='{.data.token}' | base64 -d) && [[ -n $token ]] && break; sleep 0.1; done
    local server ca; server=$(kubectl --kubeconfig "$src_kc" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
    ca=$(kubectl --kubeconfig "$src_kc" config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
    printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: %s\n  cluster: {server: %s, certificate-authority-data: %s}\nusers:\n- name: %s\n  user: {token: %s}\ncontexts:\n- name: %s\n  context: {cluster: %s, user: %s}\ncurrent-context: %s\n' \
        "$src" "$server" "$ca" "$src" "$token" "$src" "$src" "$src" "$src" >"$src.remote.kubeconfig"
    kubectl --kubeconfig "$tgt_kc" create secret generic "istio-remote-secret-$src" -n istio-system --from-file="$src=$src.remote.kubeconfig" \
        --dry-run=client -o yaml | kubectl --kubeconfig "$tgt_kc" label --local -f - istio/multiCluster=true -o yaml \
        | kubectl --kubeconfig "$tgt_kc" annotate --local -f - "networking.istio.io/cluster=$src" -o yaml | kubectl --kubeconfig "$tgt_kc" apply -f - >/dev/null
}
samples() { local n=$1 kc=$2 version=$3
    k "$kc" create namespace sample
    k "$kc" label namespace sample istio-injection=enabled
    kubectl --kubeconfig "$kc" apply -n sample -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: { name: helloworld, labels: { app: helloworld } }
spec: { ports: [{ port: 5000, name: http }], selector: { app: helloworld } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: helloworld-$version }
spec:
  selector: { matchLabels: { app: helloworld, version: $version } }
  template:
    metadata: { labels: { app: helloworld, version: $version } }
    spec: { containers: [{ name: helloworld, image: docker.io/istio/examples-helloworld-$version:1.0, ports: [{ containerPort: 5000 }] }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: curl }
spec:
  selector: { matchLabels: { app: curl } }
  template:
    metadata: { labels: { app: curl } }
    spec: { containers: [{ name: curl, image: curlimages/curl:8.16.0, command: ["sleep", "infinity"] }] }
YAML
    kubectl --kubeconfig "$kc" rollout status -n sample "deployment/helloworld-$version" --timeout=5m >/dev/null
}

t_all=$(now)
step ca-root ca_root
for c in $CLUSTERS; do n=${c%%=*}; step "ca-$n" ca_cluster "$n"; done
for c in $CLUSTERS; do IFS== read -r n net kc <<<"$c"; step "namespace-$n" namespace "$n" "$net" "$kc"; done
for c in $CLUSTERS; do IFS== read -r n net kc <<<"$c"; step "istio-$n" istio "$n" "$net" "$kc"; done
echo "step mesh-without-remote-secrets $(since "$t_all")"
for s in $CLUSTERS; do IFS== read -r sn _ skc <<<"$s"
    for t in $CLUSTERS; do IFS== read -r tn _ tkc <<<"$t"; [[ $sn == "$tn" ]] && continue
        step "remote-secret-$sn-to-$tn" remote_secret "$sn" "$skc" "$tkc"; done; done
echo "step time-to-mesh $(since "$t_all")"
i=0; for c in $CLUSTERS; do IFS== read -r n _ kc <<<"$c"; i=$((i + 1)); step "samples-$n" samples "$n" "$kc" "v$(( (i - 1) % 2 + 1 ))"; done
echo "step total $(since "$t_all")"
