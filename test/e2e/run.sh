#!/usr/bin/env bash
# `npm run test:e2e [jest args]`: builds the bed, then runs the end-to-end suites in a network namespace of their own.
#
# 1. build.sh builds or checks every piece (Kubernetes, etcd, kwok, Helm, Istio, the Pulumi CLI and the kubernetes
#    provider) from Go modules into the cache. It needs the registries, so it runs here, in the machine's namespace.
# 2. Everything else (jest, the bed's control planes, istiod, the Pulumi CLI and its plugins) runs inside
#    `unshare --net --pid --mount-proc --fork --kill-child`: a new network namespace holding only `lo`, with
#    10.0.0.0/8 added to it (pods, Services, load balancers and nodes of the bed live there, outside 127/8, so
#    Kubernetes writes their Endpoints and EndpointSlices as on a real cluster). Nothing in it can reach the
#    machine's network, and nothing outside can reach it. The namespace is gone when the run ends: the new PID
#    namespace dies with its first process, which dies with unshare (--kill-child), even after `kill -9`.
# 3. fd 9 keeps a handle on the machine's own network namespace, so a suite can show with `ss` that nothing of the
#    run listens or dials there (E2E_HOST_NETNS).
#
# Usage: run.sh [jest args...]     or     E2E_COMMAND=1 run.sh <command...> (any command inside the namespace)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
if [[ "${E2E_SKIP_BUILD:-}" != "1" ]]; then bash test/e2e/bed/build.sh; fi
for tool in unshare ip; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (util-linux, iproute2)" >&2; exit 1; }
done
if [[ $(id -u) -ne 0 ]]; then echo "run.sh: creating a network namespace needs root" >&2; exit 1; fi

exec 9</proc/self/ns/net
export E2E_HOST_NETNS=/proc/self/fd/9 E2E_SKIP_BUILD=1
if [[ "${E2E_COMMAND:-}" == "1" ]]; then set -- "$@"; else set -- node "$ROOT/node_modules/jest/bin/jest.js" -c "$ROOT/jest.e2e.config.js" --runInBand "$@"; fi
# No exec inside: bash stays the namespace's first process and reaps what the run leaves behind.
unshare --net --pid --mount-proc --fork --kill-child -- bash -c '
    set -euo pipefail
    ip link set lo up
    ip addr add 10.0.0.1/8 dev lo
    "$@"
' run.sh "$@"
