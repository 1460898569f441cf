/**
 * The topology an end-to-end suite deploys: `E2E_TOPOLOGY`, a JSON file shaped
 * `{"clusters": [{"name": "east-1", "network": "net-a"}, ...]}` (at least 2 clusters, names DNS labels, unique),
 * or by default 3 clusters on 2 networks. Every check is written for N clusters on M networks.
 */
import * as fs from "fs";

export interface TopologyCluster {
    name: string;
    network: string;
}

export interface Topology {
    clusters: TopologyCluster[];
    names: string[];
    networks: string[];
    networkOf(cluster: string): string;
    /** The clusters other than `cluster`. */
    others(cluster: string): string[];
    /** Clusters that share `cluster`'s network, other than itself. */
    sameNetwork(cluster: string): string[];
    /** True when the clusters span more than one network (east-west gateways everywhere). */
    multiNetwork: boolean;
}

export const DEFAULT_TOPOLOGY: TopologyCluster[] = [
    { name: "cluster1", network: "network1" },
    { name: "cluster2", network: "network1" },
    { name: "cluster3", network: "network2" },
];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Every problem with a topology document, in one list. */
export function topologyProblems(doc: unknown, minClusters = 2): string[] {
    const clusters = (doc as { clusters?: unknown })?.clusters;
    if (!Array.isArray(clusters)) return ['E2E_TOPOLOGY: expected {"clusters": [{"name": ..., "network": ...}, ...]}'];
    const problems: string[] = [];
    if (clusters.length < minClusters) problems.push(`E2E_TOPOLOGY: at least ${minClusters} clusters, got ${clusters.length}`);
    if (clusters.length > 15) problems.push(`E2E_TOPOLOGY: at most 15 clusters (the bed's address plan), got ${clusters.length}`);
    const seen = new Set<string>();
    clusters.forEach((c: any, i: number) => {
        for (const key of ["name", "network"]) {
            if (typeof c?.[key] !== "string" || !DNS_LABEL.test(c[key])) problems.push(`E2E_TOPOLOGY: clusters[${i}].${key} must be a DNS label, got ${JSON.stringify(c?.[key])}`);
        }
        if (typeof c?.name === "string") {
            if (seen.has(c.name)) problems.push(`E2E_TOPOLOGY: cluster name ${c.name} appears twice`);
            seen.add(c.name);
        }
    });
    return problems;
}

export function makeTopology(clusters: TopologyCluster[]): Topology {
    const names = clusters.map((c) => c.name);
    const networks = [...new Set(clusters.map((c) => c.network))];
    const networkOf = (n: string) => {
        const c = clusters.find((x) => x.name === n);
        if (!c) throw new Error(`no cluster ${n} in the topology`);
        return c.network;
    };
    return {
        clusters,
        names,
        networks,
        networkOf,
        others: (n) => names.filter((x) => x !== n),
        sameNetwork: (n) => names.filter((x) => x !== n && networkOf(x) === networkOf(n)),
        multiNetwork: networks.length > 1,
    };
}

/** The suite's topology: E2E_TOPOLOGY's file, or the default. Throws with every problem of the file at once. */
export function loadTopology(minClusters = 2): Topology {
    const file = process.env.E2E_TOPOLOGY;
    if (!file) return makeTopology(DEFAULT_TOPOLOGY);
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    const problems = topologyProblems(doc, minClusters);
    if (problems.length) throw new Error(problems.join("\n"));
    return makeTopology(doc.clusters.map((c: TopologyCluster) => ({ name: c.name, network: c.network })));
}
