/** Stack configs used across tests. */
import { stringify } from "yaml";

export function kubeconfigFor(name: string, server = `https://${name}.example.internal:6443`): string {
    return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name, cluster: { server, "certificate-authority-data": Buffer.from(`ca of ${name}`).toString("base64") } }],
        contexts: [{ name, context: { cluster: name, user: name } }],
        "current-context": name,
        users: [{ name, user: { token: `admin-token-of-${name}` } }],
    });
}

export interface ClusterSpec {
    name: string;
    network: string;
}

/**
 * An existing-cluster stack: every cluster given as kubeconfig contents. East-west gateways are public: on clusters the
 * program did not make, `internal` needs the user's own load-balancer annotations (stacks/existing.ts eastWestProblems).
 */
export function existingStack(clusters: ClusterSpec[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        platform: "existing",
        meshId: "mesh1",
        eastWestLoadBalancer: "public",
        clusters: clusters.map((c) => ({ ...c, kubeconfig: kubeconfigFor(c.name) })),
        ...extra,
    };
}

/** Three clusters on two networks: cluster1 and cluster2 share network1, cluster3 is alone on network2. */
export const THREE_CLUSTERS_TWO_NETWORKS: ClusterSpec[] = [
    { name: "cluster1", network: "network1" },
    { name: "cluster2", network: "network1" },
    { name: "cluster3", network: "network2" },
];

export const TWO_CLUSTERS_ONE_NETWORK: ClusterSpec[] = [
    { name: "cluster1", network: "network1" },
    { name: "cluster2", network: "network1" },
];

/**
 * The annotation every Kubernetes object the program applies itself carries: the stack's server-side-apply field
 * manager (components/common/fieldManager.ts), for the harness's project and stack ("test").
 */
export const FIELD_MANAGED = { "pulumi.com/patchFieldManager": "istio-multicluster-test" };
