import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { dependencyValues } from "../common/dependencies";

/**
 * What the mesh needs from any Kubernetes cluster, whoever made it: its Istio identity (name, network), a
 * Kubernetes provider bound to it, the API server URL the *other* clusters' istiod will call, and its
 * kubeconfig (secret). AKS and EKS clusters become one of these; so does any cluster you already have.
 */
export interface ClusterArgs {
    /** Istio cluster ID (`global.multiCluster.clusterName`); unique in the mesh. */
    clusterName: string;
    /** Istio network (`global.network`). */
    network: string;
    /** Kubeconfig contents. Always treated as a secret. */
    kubeconfig: pulumi.Input<string>;
    /**
     * Context in the kubeconfig; default its current context. When set, only that context, its cluster and its user
     * are kept (in the provider's state and in `kubeconfig`): the file's other contexts never reach the state.
     */
    context?: pulumi.Input<string>;
    /** API server URL reachable from the other clusters' istiod; default the kubeconfig's server. */
    apiServerUrl?: pulumi.Input<string>;
    /**
     * A value that changes only when the cluster itself is replaced (a cloud resource ID, say). Lets the
     * Kubernetes provider keep its identity while a kubeconfig is unknown during preview. Default the name.
     */
    clusterIdentifier?: pulumi.Input<string>;
    /**
     * Pod IP family, "ipv4" (default) or "ipv6"; an IPv6 cluster's istiod is told to let sidecars reach IPv4
     * destinations. (A string rather than a union so that the component works from other languages.)
     */
    ipFamily?: string;
    /** Annotations for the east-west gateway Service, so each cloud can pick its load balancer flavour. */
    gatewayServiceAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /**
     * How the east-west gateway is reached from the other networks: "LoadBalancer" (default: the Service's load
     * balancer address) or "NodePort" (for clusters without load balancers: `gatewayAddress` and `gatewayNodePort`).
     */
    gatewayServiceType?: string;
    /** With "NodePort": the address (IP or DNS name) the other networks reach this cluster's nodes at. */
    gatewayAddress?: string;
    /** With "NodePort": the node port of the gateway's mTLS port 15443. Default 31443. */
    gatewayNodePort?: number;
    /**
     * What must exist before anything is installed in the cluster (node pools, CNI add-ons), as outputs of
     * those resources, such as their `urn`s (see components/common/dependencies.ts for why values, not resources).
     */
    readyDependencies?: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * What a LoadBalancer Service in this cluster needs besides the cluster (a load-balancer controller,
     * permissions on the subnet), as outputs of those resources. Only the gateway releases wait for these,
     * and so on destroy they go first.
     */
    loadBalancerDependencies?: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * What the mesh reads of each cluster. A `Cluster` is one, and so are `AksCluster` and `EksCluster`; from
 * another language, pass these fields of a `Cluster` (its provider, API server URL and dependencies).
 */
export interface MeshClusterArgs {
    /** Istio cluster ID; unique in the mesh. */
    clusterName: string;
    /** Istio network. */
    network: string;
    /** Kubernetes provider bound to the cluster. */
    provider: k8s.Provider;
    /** API server URL reachable from the other clusters' istiod. */
    apiServerUrl: pulumi.Input<string>;
    /** "ipv4" (default) or "ipv6". */
    ipFamily?: string;
    /** Annotations for the east-west gateway Service. */
    gatewayServiceAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** "LoadBalancer" (default) or "NodePort" (with `gatewayAddress` and `gatewayNodePort`). */
    gatewayServiceType?: string;
    /** With "NodePort": the address the other networks reach this cluster's nodes at. */
    gatewayAddress?: string;
    /** With "NodePort": the node port of the gateway's port 15443. Default 31443. */
    gatewayNodePort?: number;
    /** What everything installed in the cluster waits for (outputs of those resources). */
    readyDependencies?: pulumi.Input<pulumi.Input<string>[]>;
    /** What LoadBalancer Services in the cluster wait for (outputs of those resources). */
    loadBalancerDependencies?: pulumi.Input<pulumi.Input<string>[]>;
}

const IP_FAMILIES = ["ipv4", "ipv6"];
export const GATEWAY_SERVICE_TYPES = ["LoadBalancer", "NodePort"];
/** The node port of a NodePort east-west gateway's 15443 when none is given. */
export const DEFAULT_GATEWAY_NODE_PORT = 31443;

/** What is wrong with a cluster's east-west gateway settings ("gatewayAddress is required …"), or undefined. */
export function gatewayServiceProblem(c: Pick<MeshClusterArgs, "gatewayServiceType" | "gatewayAddress" | "gatewayNodePort">): string | undefined {
    const type = c.gatewayServiceType ?? "LoadBalancer";
    if (!GATEWAY_SERVICE_TYPES.includes(type)) return `gatewayServiceType must be LoadBalancer or NodePort, got "${type}"`;
    if (type === "NodePort" && !c.gatewayAddress) return "gatewayAddress is required with gatewayServiceType NodePort: the address the other networks reach this cluster's nodes at";
    if (type !== "NodePort" && (c.gatewayAddress !== undefined || c.gatewayNodePort !== undefined)) return "gatewayAddress and gatewayNodePort are only used with gatewayServiceType NodePort";
    const port = c.gatewayNodePort;
    if (port !== undefined && !(Number.isInteger(port) && port >= 30000 && port <= 32767)) return `gatewayNodePort must be a node port from 30000 to 32767, got ${port}`;
    return undefined;
}

/** What is wrong with an IP family setting ("ipFamily must be …"), or undefined when it is fine. */
export function ipFamilyProblem(ipFamily: string | undefined): string | undefined {
    return ipFamily === undefined || IP_FAMILIES.includes(ipFamily) ? undefined : `ipFamily must be ipv4 or ipv6, got "${ipFamily}"`;
}

export class Cluster extends pulumi.ComponentResource implements MeshClusterArgs {
    public readonly clusterName: string;
    public readonly network: string;
    public readonly ipFamily: string;
    public readonly provider: k8s.Provider;
    public readonly apiServerUrl: pulumi.Output<string>;
    public readonly kubeconfig: pulumi.Output<string>;
    public readonly gatewayServiceAnnotations: pulumi.Output<Record<string, string>>;
    public readonly gatewayServiceType?: string;
    public readonly gatewayAddress?: string;
    public readonly gatewayNodePort?: number;
    /** What Kubernetes resources in this cluster must wait for, beyond the provider (URNs or other outputs). */
    public readonly readyDependencies: pulumi.Output<string[]>;
    /** What gateway releases (LoadBalancer Services) in this cluster must wait for. */
    public readonly loadBalancerDependencies: pulumi.Output<string[]>;

    constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:Cluster", name, {}, opts);
        this.clusterName = args.clusterName;
        this.network = args.network;
        this.ipFamily = args.ipFamily ?? "ipv4";
        const problem = ipFamilyProblem(this.ipFamily);
        if (problem) throw new Error(`Cluster ${args.clusterName}: ${problem}`);
        const gatewayProblem = gatewayServiceProblem(args);
        if (gatewayProblem) throw new Error(`Cluster ${args.clusterName}: ${gatewayProblem}`);
        this.gatewayServiceType = args.gatewayServiceType;
        this.gatewayAddress = args.gatewayAddress;
        this.gatewayNodePort = args.gatewayNodePort;
        this.readyDependencies = dependencyValues(args.readyDependencies);
        this.loadBalancerDependencies = dependencyValues(args.loadBalancerDependencies);
        // With a context, only that context's entries are kept: the rest of the file never reaches the state.
        this.kubeconfig = pulumi.secret(
            args.context === undefined ? args.kubeconfig : pulumi.all([args.kubeconfig, args.context]).apply(([kc, ctx]) => kubeconfigForContext(kc, ctx)),
        );
        this.apiServerUrl = args.apiServerUrl ? pulumi.output(args.apiServerUrl) : pulumi.unsecret(this.kubeconfig.apply((kc) => kubeconfigServer(kc)));
        this.gatewayServiceAnnotations = pulumi.output(args.gatewayServiceAnnotations ?? {});
        this.provider = new k8s.Provider(
            `${name}-k8s`,
            {
                kubeconfig: this.kubeconfig,
                clusterIdentifier: args.clusterIdentifier ?? args.clusterName,
                // Istio's charts are installed with Helm; plain objects go through server-side apply.
                enableServerSideApply: true,
                // A changed Secret (cacerts during a root rotation, a remote secret on a token rotation) is updated
                // in place, never deleted and created: istiod must never see its CA or a remote cluster vanish.
                // Set here so the guarantee holds whoever runs `up` (CI included), with no environment variable.
                enableSecretMutable: true,
            },
            { parent: this },
        );
        this.registerOutputs({
            clusterName: this.clusterName,
            network: this.network,
            apiServerUrl: this.apiServerUrl,
            kubeconfig: this.kubeconfig,
        });
    }
}

interface KubeconfigDoc {
    "current-context"?: string;
    contexts?: { name: string; context: { cluster: string; user?: string } }[];
    clusters?: { name: string; cluster: { server: string } }[];
    users?: { name: string; user: unknown }[];
}

/** The API server URL of `context` (default: the current context) in a kubeconfig. */
export function kubeconfigServer(kubeconfig: string, context?: string): string {
    const doc = parseYaml(kubeconfig) as KubeconfigDoc | null;
    if (!doc || typeof doc !== "object") throw new Error("kubeconfig is not a YAML document");
    const contextName = context ?? doc["current-context"];
    const ctx = contextName ? doc.contexts?.find((c) => c.name === contextName) : doc.contexts?.[0];
    if (contextName && !ctx) throw new Error(`kubeconfig has no context "${contextName}"`);
    const clusterName = ctx?.context?.cluster ?? (doc.clusters?.length === 1 ? doc.clusters[0].name : undefined);
    const cluster = doc.clusters?.find((c) => c.name === clusterName);
    if (!cluster?.cluster?.server) {
        throw new Error(`kubeconfig has no cluster server for context "${contextName ?? "(none)"}"`);
    }
    return cluster.cluster.server;
}

/**
 * A kubeconfig holding only one context (default: the current one), its cluster and its user, with that context
 * current: what the provider needs and nothing else of the file (other contexts' credentials stay out of the state,
 * and editing them changes nothing). Throws when the context, its cluster or its server is missing.
 */
export function kubeconfigForContext(kubeconfig: string, context?: string): string {
    const doc = parseYaml(kubeconfig) as KubeconfigDoc | null;
    if (!doc || typeof doc !== "object") throw new Error("kubeconfig is not a YAML document");
    const contextName = context ?? doc["current-context"] ?? (doc.contexts?.length === 1 ? doc.contexts[0].name : undefined);
    if (!contextName) throw new Error("kubeconfig has no current context; name one");
    const ctx = doc.contexts?.find((c) => c.name === contextName);
    if (!ctx) throw new Error(`kubeconfig has no context "${contextName}"${doc.contexts?.length ? ` (it has ${doc.contexts.map((c) => `"${c.name}"`).join(", ")})` : ""}`);
    const cluster = doc.clusters?.find((c) => c.name === ctx.context?.cluster);
    if (!cluster?.cluster?.server) throw new Error(`kubeconfig has no cluster server for context "${contextName}"`);
    const user = doc.users?.find((u) => u.name === ctx.context?.user);
    return stringifyYaml({
        apiVersion: "v1",
        kind: "Config",
        clusters: [cluster],
        contexts: [ctx],
        users: user ? [user] : [],
        "current-context": contextName,
    });
}

/** The fields a component that ends in a `Cluster` (AksCluster, EksCluster) exposes to be a mesh cluster. */
export type MeshClusterFields = Pick<
    Cluster,
    "clusterName" | "network" | "ipFamily" | "provider" | "apiServerUrl" | "kubeconfig" | "gatewayServiceAnnotations" | "readyDependencies" | "loadBalancerDependencies"
>;

/**
 * Those fields, copied from the `Cluster`. The component keeps the fields rather than the `Cluster` itself
 * because the component host cannot pass a resource of this package between languages.
 */
export function meshClusterFields(cluster: Cluster): MeshClusterFields {
    const { clusterName, network, ipFamily, provider, apiServerUrl, kubeconfig, gatewayServiceAnnotations, readyDependencies, loadBalancerDependencies } = cluster;
    return { clusterName, network, ipFamily, provider, apiServerUrl, kubeconfig, gatewayServiceAnnotations, readyDependencies, loadBalancerDependencies };
}
