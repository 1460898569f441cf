import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { DEFAULT_GATEWAY_NODE_PORT, gatewayServiceProblem, ipFamilyProblem, MeshClusterArgs } from "./cluster";
import { IstioPreflight } from "./istioPreflight";
import { dependencyValues } from "../common/dependencies";
import { CAValidityDays, MeshCA, MeshCAOptions } from "./meshCA";
import { IstioPrimary } from "./istioPrimary";
import { EastWestGateway } from "./eastWestGateway";
import { RemoteSecret } from "./remoteSecret";
import { checkMeshRevisions, clusterRevisions, MeshRevisions, workloadRevision } from "./revisions";
import { checkIstioValues, clusterIstioValues, IstioValues } from "./istioValues";

/**
 * A multi-primary Istio mesh over any number of clusters: one CA, Istio in every cluster, east-west
 * gateways when the clusters span more than one network, and a remote secret for every ordered pair.
 */
export interface MeshArgs {
    meshId: string;
    istioVersion: string;
    /**
     * Where Istio's charts come from: an https:// Helm repository, an oci:// registry, or an absolute directory
     * holding base/, istiod/ and gateway/. Default https://blob.istio.io/istio-release/charts.
     */
    istioChartSource?: string;
    /** Registry and repository of Istio's images (`global.hub` of every chart). Default docker.io/istio. */
    istioImageHub?: string;
    /** The clusters: `Cluster`, `AksCluster` or `EksCluster` instances, or their fields from another language. */
    clusters: MeshClusterArgs[];
    /** CA options: validity, root protection, or a CA you bring. */
    ca?: MeshCAOptions;
    /** Mesh-wide STRICT mTLS in every cluster. Default true. */
    strictMtls?: boolean;
    /**
     * Control-plane revisions, the default revision and revision tags (components/core/revisions.ts), for canary
     * upgrades cluster by cluster. Unset: one unrevisioned istiod of `istioVersion` per cluster.
     */
    revisions?: MeshRevisions;
    /** Generation of every remote-secret reader token (default 1); a new one rotates them all. */
    readerTokenGeneration?: number;
    /**
     * Helm values laid under the mesh's own in every cluster's `base`, `istiod` (every revision) and east-west
     * `gateway` charts: meshConfig (access logs, outboundTrafficPolicy…), resources, autoscaling, PDBs, scheduling.
     * Keys the mesh owns (mesh ID, cluster name, network, images, revisions, gateway ports…) are refused.
     */
    istioValues?: IstioValues;
    /** Per cluster (by cluster name): values laid over `istioValues` for that cluster only. */
    clusterIstioValues?: Record<string, IstioValues>;
    /**
     * Before changing anything in any cluster, look for an Istio this stack does not own (istiod in istio-system,
     * Istio's CRDs owned by another Helm release) and fail naming the cluster (components/core/istioPreflight.ts).
     * For clusters you already had; needs the clusters' kubeconfigs known when the program runs. Default false.
     */
    preflight?: boolean;
}

/** istiod settings a cluster needs because of its pod IP family. */
export function istiodEnvFor(ipFamily: string): Record<string, string> {
    // Sidecars in an IPv6 cluster get no IPv4 outbound listeners unless asked, and the mesh's other
    // clusters may be IPv4.
    return ipFamily === "ipv6" ? { ISTIO_ENABLE_IPV4_OUTBOUND_LISTENER_FOR_IPV6_CLUSTERS: "true" } : {};
}

/**
 * Istio's meshNetworks for gateways istiod cannot discover: a NodePort east-west gateway has no load-balancer address,
 * so each network with one lists its clusters and `<address>:<node port>`. Undefined when no cluster needs it, so that
 * other meshes' istiod values stay as they were.
 */
export function meshNetworksFor(clusters: Pick<MeshClusterArgs, "clusterName" | "network" | "gatewayServiceType" | "gatewayAddress" | "gatewayNodePort">[]): Record<string, unknown> | undefined {
    if (networksOf(clusters).length < 2) return undefined;
    const nodePort = clusters.filter((c) => c.gatewayServiceType === "NodePort");
    if (nodePort.length === 0) return undefined;
    return Object.fromEntries(
        networksOf(nodePort).map((network) => [
            network,
            {
                endpoints: clusters.filter((c) => c.network === network).map((c) => ({ fromRegistry: c.clusterName })),
                gateways: nodePort.filter((c) => c.network === network).map((c) => ({ address: c.gatewayAddress, port: c.gatewayNodePort ?? DEFAULT_GATEWAY_NODE_PORT })),
            },
        ]),
    );
}

/** Distinct networks in a topology; more than one means east-west gateways. */
export function networksOf(clusters: { network: string }[]): string[] {
    return [...new Set(clusters.map((c) => c.network))];
}

/** Every ordered pair (source, target) of distinct clusters: N·(N−1) of them. */
export function orderedPairs<T>(items: T[]): [T, T][] {
    return items.flatMap((source) => items.filter((target) => target !== source).map((target) => [source, target] as [T, T]));
}

/**
 * Checks what a `Cluster` would have checked, since from another language the clusters arrive as plain
 * objects: names present and unique, networks present, a known IP family.
 */
export function checkMeshClusters(clusters: Pick<MeshClusterArgs, "clusterName" | "network" | "ipFamily" | "gatewayServiceType" | "gatewayAddress" | "gatewayNodePort">[]): void {
    if (clusters.length === 0) throw new Error("Mesh needs at least one cluster");
    const problems: string[] = [];
    const names = clusters.map((c) => c.clusterName);
    clusters.forEach((c, i) => {
        if (!c.clusterName) problems.push(`clusters[${i}].clusterName is empty`);
        if (!c.network) problems.push(`clusters[${i}].network is empty`);
        const ipFamily = ipFamilyProblem(c.ipFamily);
        if (ipFamily) problems.push(`clusters[${i}].${ipFamily}`);
        const gateway = gatewayServiceProblem(c);
        if (gateway) problems.push(`clusters[${i}].${gateway}`);
    });
    const dupe = names.find((n, i) => n && names.indexOf(n) !== i);
    if (dupe !== undefined) problems.push(`cluster name "${dupe}" is used twice; Istio cluster IDs must be unique`);
    if (problems.length > 0) throw new Error(`Mesh: ${problems.join("; ")}`);
}

/** The overlays: no key the mesh owns, per-cluster ones only for clusters of the mesh and without mesh-wide-only keys. */
export function checkMeshIstioValues(args: Pick<MeshArgs, "istioValues" | "clusterIstioValues"> & { clusters: { clusterName: string }[] }): void {
    checkIstioValues(args.istioValues, "Mesh: istioValues", false);
    const names = args.clusters.map((c) => c.clusterName);
    for (const [cluster, values] of Object.entries(args.clusterIstioValues ?? {})) {
        if (!names.includes(cluster)) throw new Error(`Mesh: clusterIstioValues: no cluster is named "${cluster}"; clusters are ${names.join(", ")}`);
        checkIstioValues(values, `Mesh: clusterIstioValues.${cluster}`, true);
    }
}

export class Mesh extends pulumi.ComponentResource {
    // The CA, primaries, gateways and remote secrets are children, not properties: the component host cannot
    // pass components of this package between languages. What others build on is exposed below.
    /** Each cluster's istiod release, by cluster name: sidecar injection and validation work once it is ready. */
    public readonly istiodReleases: Record<string, k8s.helm.v3.Release>;
    /**
     * Per cluster, what workloads that use the mesh's workload tag must wait for to be injected (istiod and, with
     * revisions, that tag's webhook), as values (`urn`s): see IstioPrimary.workloadInjection.
     */
    public readonly workloadInjection: Record<string, pulumi.Output<string[]>>;
    /** East-west gateway load-balancer address per cluster (empty on a single network). */
    public readonly eastWestGatewayAddresses: pulumi.Output<Record<string, string>>;
    public readonly rootCertPem: pulumi.Output<string>;
    /** Days left on the mesh's roots and intermediates. */
    public readonly caValidityDays: pulumi.Output<CAValidityDays>;

    constructor(name: string, args: MeshArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:Mesh", name, {}, opts);
        checkMeshClusters(args.clusters);
        const multiNetwork = networksOf(args.clusters).length > 1;
        if (args.revisions) checkMeshRevisions(args.revisions, args.clusters.map((c) => c.clusterName));
        checkMeshIstioValues(args);

        // Nothing goes into any cluster before every cluster's preflight passed.
        const preflightsPassed = args.preflight
            ? args.clusters.map((c) => new IstioPreflight(`${name}-${c.clusterName}-preflight`, { clusterName: c.clusterName, provider: c.provider }, { parent: this }).passed)
            : [];
        const meshNetworks = meshNetworksFor(args.clusters);

        const ca = new MeshCA(`${name}-ca`, { ...args.ca, clusterNames: args.clusters.map((c) => c.clusterName) }, { parent: this });

        const primaries: Record<string, IstioPrimary> = {};
        const eastWestGateways: Record<string, EastWestGateway> = {};
        for (const cluster of args.clusters) {
            const revisions = args.revisions && clusterRevisions(args.revisions, cluster.clusterName);
            // The cluster's own workloads (gateways) run the revision their tag points at.
            const gatewayRevision = revisions && workloadRevision(revisions);
            const istioValues = clusterIstioValues(args.istioValues, args.clusterIstioValues?.[cluster.clusterName]);
            const primary = new IstioPrimary(
                `${name}-${cluster.clusterName}`,
                {
                    clusterName: cluster.clusterName,
                    network: cluster.network,
                    meshId: args.meshId,
                    istioVersion: args.istioVersion,
                    chartSource: args.istioChartSource,
                    imageHub: args.istioImageHub,
                    caCerts: ca.clusterCerts[cluster.clusterName],
                    provider: cluster.provider,
                    istiodEnv: { ...istiodEnvFor(cluster.ipFamily ?? "ipv4"), ...ca.istiodEnv },
                    readyDependencies: preflightsPassed.length > 0 ? dependencyValues(cluster.readyDependencies, preflightsPassed) : cluster.readyDependencies,
                    strictMtls: args.strictMtls,
                    ...(meshNetworks ? { meshNetworks } : {}),
                    ...(revisions ? { revisions } : {}),
                    istioValues,
                },
                { parent: this },
            );
            primaries[cluster.clusterName] = primary;
            if (multiNetwork) {
                eastWestGateways[cluster.clusterName] = new EastWestGateway(
                    `${name}-${cluster.clusterName}-eastwest`,
                    {
                        network: cluster.network,
                        clusterName: cluster.clusterName,
                        istioVersion: gatewayRevision?.version ?? args.istioVersion,
                        chartSource: gatewayRevision?.chartSource ?? args.istioChartSource,
                        imageHub: args.istioImageHub,
                        provider: cluster.provider,
                        serviceAnnotations: cluster.gatewayServiceAnnotations,
                        istiod: primary.istiod,
                        workloadInjection: primary.workloadInjection,
                        loadBalancerDependencies: cluster.loadBalancerDependencies,
                        ...(revisions ? { revisionTag: revisions.workloadTag } : {}),
                        values: istioValues.gateway,
                        serviceType: cluster.gatewayServiceType,
                        address: cluster.gatewayAddress,
                        nodePort: cluster.gatewayNodePort,
                    },
                    { parent: this },
                );
            }
        }

        for (const [source, target] of orderedPairs(args.clusters)) {
            new RemoteSecret(
                `${name}-${source.clusterName}-to-${target.clusterName}`,
                {
                    sourceClusterName: source.clusterName,
                    sourceProvider: source.provider,
                    sourceApiServerUrl: source.apiServerUrl,
                    targetClusterName: target.clusterName,
                    targetProvider: target.provider,
                    // The reader account comes with the base chart, its read-only ClusterRole and binding with the
                    // istiod chart: a token handed out before both exist gets 403s from the source's API server
                    // (seen on the end-to-end bed: remote secrets arrived 11–19 s before the source's RBAC).
                    // With revisions, every revision's release brings its own reader role: the token waits for all.
                    sourceDependsOn: [primaries[source.clusterName].base.urn, ...Object.values(primaries[source.clusterName].istiodRevisions).map((r) => r.urn)],
                    targetDependsOn: [primaries[target.clusterName].namespace.urn],
                    tokenGeneration: args.readerTokenGeneration,
                },
                { parent: this },
            );
        }

        this.istiodReleases = Object.fromEntries(Object.entries(primaries).map(([cluster, primary]) => [cluster, primary.istiod]));
        this.workloadInjection = Object.fromEntries(Object.entries(primaries).map(([cluster, primary]) => [cluster, primary.workloadInjection]));
        this.rootCertPem = ca.rootCertPem;
        this.caValidityDays = ca.validityDays;
        this.eastWestGatewayAddresses = pulumi
            .all(Object.entries(eastWestGateways).map(([cluster, gw]) => gw.address.apply((a) => [cluster, a] as const)))
            .apply((entries) => Object.fromEntries(entries));
        this.registerOutputs({ rootCertPem: this.rootCertPem, eastWestGatewayAddresses: this.eastWestGatewayAddresses });
    }
}
