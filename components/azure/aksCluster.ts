import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as k8s from "@pulumi/kubernetes";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { Cluster, MeshClusterArgs, meshClusterFields } from "../core/cluster";

/** Built-in Azure role definition IDs (the same in every tenant). */
export const BUILT_IN_ROLES = {
    networkContributor: "4d97b98b-1d4f-4787-a291-c67834d212e7",
    acrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
} as const;

/** The full role definition ID ARM expects (and returns, so there is no diff on the next run). */
export function roleDefinitionId(subscriptionId: pulumi.Input<string>, roleId: string): pulumi.Output<string> {
    return pulumi.interpolate`/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleId}`;
}

/** Decodes the first kubeconfig of an AKS credentials answer. */
export function kubeconfigFromCredentials(result: { kubeconfigs: { name: string; value: string }[] }): string {
    const first = result.kubeconfigs?.[0];
    if (!first?.value) throw new Error("AKS returned no kubeconfig in the cluster's user credentials");
    return Buffer.from(first.value, "base64").toString("utf8");
}

/**
 * One AKS cluster on its own subnet with Azure CNI Overlay, a system-assigned identity and one system node
 * pool, ending in the mesh's `Cluster` (Kubernetes provider, API server URL, kubeconfig): an `AksCluster` goes
 * into a `Mesh` as it is.
 */
export interface AksClusterArgs {
    /** Istio cluster ID. */
    clusterName: string;
    /** Istio network. */
    network: string;
    resourceGroupName: pulumi.Input<string>;
    location: pulumi.Input<string>;
    /** Subscription of the resources (for role definition IDs). */
    subscriptionId: pulumi.Input<string>;
    /** Subnet for the nodes and internal load balancers. */
    subnetId: pulumi.Input<string>;
    /** "1.35" (AKS picks the newest patch) or "1.35.1". */
    kubernetesVersion: string;
    nodeCount: number;
    vmSize: string;
    /** Overlay pod address space (not part of the VNet). */
    podCidr: string;
    serviceCidr: string;
    dnsServiceIp: string;
    /** Prefix of the API server's host name. */
    dnsPrefix: string;
    /** AKS pricing tier: "Free" or "Standard" (uptime SLA). */
    skuTier: string;
    /** CIDRs allowed to reach the API server; unset or empty means no restriction (AKS default). */
    authorizedIpRanges?: pulumi.Input<pulumi.Input<string>[]>;
    /** A Standard static public IP for outbound traffic, instead of one AKS makes. */
    egressIpId?: pulumi.Input<string>;
    /** Annotations for the east-west gateway Service (internal or public load balancer). */
    gatewayServiceAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /**
     * Entra ID groups given cluster admin through AKS's managed Entra integration; when set, local accounts are
     * disabled and the kubeconfig logs in with kubelogin (`--login azurecli`: the Azure CLI's signed-in identity,
     * which must be in one of the groups). Unset: local accounts, a certificate kubeconfig.
     */
    adminGroupObjectIds?: string[];
    tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * The kubelogin exec kubeconfig AKS returns for Entra clusters, set to log in with the Azure CLI's identity instead of a
 * device code nobody is there to enter (what `kubelogin convert-kubeconfig -l azurecli` does).
 */
export function withAzureCliLogin(kubeconfig: string): string {
    const doc = parseYaml(kubeconfig) as { users?: { user?: { exec?: { command?: string; args?: string[] } } }[] } | null;
    for (const u of doc?.users ?? []) {
        const exec = u.user?.exec;
        if (!exec || !/kubelogin(\.exe)?$/.test(exec.command ?? "")) continue;
        const args = [...(exec.args ?? [])];
        const at = args.findIndex((a) => a === "--login" || a === "-l");
        if (at >= 0) args.splice(at, 2);
        exec.args = [...args, "--login", "azurecli"];
    }
    return stringifyYaml(doc);
}

export class AksCluster extends pulumi.ComponentResource implements MeshClusterArgs {
    public readonly managedCluster: containerservice.ManagedCluster;
    /** The cluster identity may manage load balancers on its subnet (internal east-west gateway). */
    public readonly subnetRoleAssignment: authorization.RoleAssignment;
    public readonly egressIpRoleAssignment?: authorization.RoleAssignment;
    /** Azure name of the managed cluster. */
    public readonly aksName: pulumi.Output<string>;
    /** Object ID of the kubelet identity (pulls images, e.g. from ACR). */
    public readonly kubeletObjectId: pulumi.Output<string>;
    /** The system-assigned identity of the control plane. */
    public readonly principalId: pulumi.Output<string>;

    // What the mesh reads (MeshClusterArgs), from the `Cluster` this component ends in.
    public readonly clusterName!: string;
    public readonly network!: string;
    public readonly ipFamily!: string;
    /** Kubernetes provider bound to the cluster. */
    public readonly provider!: k8s.Provider;
    /** `https://<fqdn>:443`. */
    public readonly apiServerUrl!: pulumi.Output<string>;
    /** User kubeconfig (certificate); secret. */
    public readonly kubeconfig!: pulumi.Output<string>;
    public readonly gatewayServiceAnnotations!: pulumi.Output<Record<string, string>>;
    public readonly readyDependencies!: pulumi.Output<string[]>;
    public readonly loadBalancerDependencies!: pulumi.Output<string[]>;

    constructor(name: string, args: AksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:AksCluster", name, {}, opts);
        const entra = (args.adminGroupObjectIds?.length ?? 0) > 0;

        this.managedCluster = new containerservice.ManagedCluster(
            name,
            {
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                dnsPrefix: args.dnsPrefix,
                kubernetesVersion: args.kubernetesVersion,
                sku: { name: "Base", tier: args.skuTier },
                identity: { type: containerservice.ResourceIdentityType.SystemAssigned },
                enableRBAC: true,
                // Without Entra groups, local accounts give the user credentials below a certificate, usable without
                // kubelogin. With them, the groups are cluster admins and no local account may bypass Entra ID.
                disableLocalAccounts: entra,
                ...(entra ? { aadProfile: { managed: true, enableAzureRBAC: false, adminGroupObjectIDs: args.adminGroupObjectIds } } : {}),
                agentPoolProfiles: [
                    {
                        name: "system",
                        mode: containerservice.AgentPoolMode.System,
                        type: containerservice.AgentPoolType.VirtualMachineScaleSets,
                        osType: containerservice.OSType.Linux,
                        count: args.nodeCount,
                        vmSize: args.vmSize,
                        orchestratorVersion: args.kubernetesVersion,
                        vnetSubnetID: args.subnetId,
                    },
                ],
                networkProfile: {
                    // Azure CNI Overlay: nodes on the subnet, pods on a private overlay range per cluster.
                    networkPlugin: containerservice.NetworkPlugin.Azure,
                    networkPluginMode: containerservice.NetworkPluginMode.Overlay,
                    podCidr: args.podCidr,
                    serviceCidr: args.serviceCidr,
                    dnsServiceIP: args.dnsServiceIp,
                    loadBalancerSku: containerservice.LoadBalancerSku.Standard,
                    outboundType: containerservice.OutboundType.LoadBalancer,
                    loadBalancerProfile: args.egressIpId ? { outboundIPs: { publicIPs: [{ id: args.egressIpId }] } } : undefined,
                },
                apiServerAccessProfile: args.authorizedIpRanges ? { authorizedIPRanges: args.authorizedIpRanges } : undefined,
                tags: args.tags,
            },
            {
                parent: this,
                // AKS refuses to change these on a running cluster or pool; a preview that says "replace" beats
                // an update that fails half-way. The replacement gets a new auto-name, so it is created first.
                replaceOnChanges: [
                    "networkProfile.networkPlugin",
                    "networkProfile.networkPluginMode",
                    "networkProfile.podCidr",
                    "networkProfile.serviceCidr",
                    "networkProfile.dnsServiceIP",
                    "agentPoolProfiles[*].vmSize",
                    "agentPoolProfiles[*].vnetSubnetID",
                ],
            },
        );
        const mc = this.managedCluster;
        this.aksName = mc.name;
        this.principalId = mc.identity.apply((identity) => {
            if (!identity?.principalId) throw new Error(`AKS cluster ${args.clusterName} has no system-assigned identity`);
            return identity.principalId;
        });
        this.kubeletObjectId = mc.identityProfile.apply((profile) => {
            const objectId = profile?.["kubeletidentity"]?.objectId;
            if (!objectId) throw new Error(`AKS cluster ${args.clusterName} has no kubelet identity`);
            return objectId;
        });

        const networkContributor = (roleName: string, scope: pulumi.Input<string>) =>
            new authorization.RoleAssignment(
                `${name}-${roleName}`,
                {
                    principalId: this.principalId,
                    // Skips the directory lookup that fails while a new identity is still replicating.
                    principalType: authorization.PrincipalType.ServicePrincipal,
                    roleDefinitionId: roleDefinitionId(args.subscriptionId, BUILT_IN_ROLES.networkContributor),
                    scope,
                },
                { parent: this },
            );
        this.subnetRoleAssignment = networkContributor("subnet-network-contributor", args.subnetId);
        if (args.egressIpId) this.egressIpRoleAssignment = networkContributor("egress-ip-network-contributor", args.egressIpId);

        // User credentials (not admin): with local accounts and no Entra ID integration this is a
        // certificate kubeconfig the Kubernetes provider can use as is; with Entra, kubelogin's. Looked up from the cluster's outputs,
        // so it runs only once the cluster exists, and the provider depends on the cluster.
        const credentials = containerservice.listManagedClusterUserCredentialsOutput({
            resourceGroupName: args.resourceGroupName,
            resourceName: mc.name,
            // Entra clusters: a kubelogin exec kubeconfig (the other format, an auth-provider, is gone from kubectl).
            ...(entra ? { format: "exec" } : {}),
        });
        const kubeconfig = pulumi.secret(credentials.apply((c) => (entra ? withAzureCliLogin(kubeconfigFromCredentials(c)) : kubeconfigFromCredentials(c))));

        const cluster = new Cluster(
            args.clusterName,
            {
                clusterName: args.clusterName,
                network: args.network,
                kubeconfig,
                apiServerUrl: pulumi.interpolate`https://${mc.fqdn}:443`,
                // Changes only when the AKS cluster is replaced: the provider keeps its identity in previews.
                clusterIdentifier: mc.id,
                gatewayServiceAnnotations: args.gatewayServiceAnnotations,
                // Nothing goes into the cluster before it exists.
                readyDependencies: [mc.urn],
                // An internal load balancer on the subnet (and the egress IP) needs the cluster identity's role.
                loadBalancerDependencies: [this.subnetRoleAssignment.urn, ...(this.egressIpRoleAssignment ? [this.egressIpRoleAssignment.urn] : [])],
            },
            { parent: this },
        );
        Object.assign(this, meshClusterFields(cluster));

        this.registerOutputs({
            aksName: this.aksName,
            apiServerUrl: this.apiServerUrl,
            kubeletObjectId: this.kubeletObjectId,
            principalId: this.principalId,
        });
    }
}
