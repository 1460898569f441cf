import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { parse as parseYaml } from "yaml";
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
    /** Context in the kubeconfig; default its current context. */
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
    /** What everything installed in the cluster waits for (outputs of those resources). */
    readyDependencies?: pulumi.Input<pulumi.Input<string>[]>;
    /** What LoadBalancer Services in the cluster wait for (outputs of those resources). */
    loadBalancerDependencies?: pulumi.Input<pulumi.Input<string>[]>;
}

const IP_FAMILIES = ["ipv4", "ipv6"];

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
        this.readyDependencies = dependencyValues(args.readyDependencies);
        this.loadBalancerDependencies = dependencyValues(args.loadBalancerDependencies);
        this.kubeconfig = pulumi.secret(args.kubeconfig);
        this.apiServerUrl = args.apiServerUrl
            ? pulumi.output(args.apiServerUrl)
            : pulumi.unsecret(pulumi.all([this.kubeconfig, args.context]).apply(([kc, ctx]) => kubeconfigServer(kc, ctx)));
        this.gatewayServiceAnnotations = pulumi.output(args.gatewayServiceAnnotations ?? {});
        this.provider = new k8s.Provider(
            `${name}-k8s`,
            {
                kubeconfig: this.kubeconfig,
                context: args.context,
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
    contexts?: { name: string; context: { cluster: string } }[];
    clusters?: { name: string; cluster: { server: string } }[];
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
