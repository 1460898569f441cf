import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";

/** One cluster's slice of the network. */
export interface AzureNetworkSubnetArgs {
    /** Key of the subnet (the Istio cluster name); also its logical and Azure name. */
    name: string;
    /** The subnet's address prefix, inside the VNet. */
    cidr: string;
    /**
     * Give the cluster on this subnet a static outbound public IP of its own, known before the cluster
     * exists, so that the other clusters' API servers can allow it (authorized IP ranges).
     */
    egressIp?: boolean;
}

/**
 * The Azure network the clusters share: a resource group, one VNet, one subnet per cluster and, when
 * asked, a static egress IP per cluster. Nodes (and internal load balancers) live on the subnets; with
 * Azure CNI Overlay, pods do not take VNet addresses.
 */
export interface AzureNetworkArgs {
    /** Location of every resource (`azure-native:location`). */
    location: pulumi.Input<string>;
    /** Readable part of the auto-generated names (`rg-<prefix>-…`, `vnet-<prefix>-…`). */
    namePrefix: string;
    /** VNet address space. */
    vnetCidr: string;
    subnets: AzureNetworkSubnetArgs[];
    tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export class AzureNetwork extends pulumi.ComponentResource {
    public readonly resourceGroup: resources.ResourceGroup;
    public readonly resourceGroupName: pulumi.Output<string>;
    public readonly virtualNetwork: network.VirtualNetwork;
    /** Subnets by key. */
    public readonly subnets: Record<string, network.Subnet>;
    /** Egress public IPs by subnet key (only for subnets that asked for one). */
    public readonly egressIps: Record<string, network.PublicIPAddress>;

    constructor(name: string, args: AzureNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:AzureNetwork", name, {}, opts);

        // Auto-named: a random suffix, chosen once and kept in the stack's state, keeps names unique per stack.
        this.resourceGroup = new resources.ResourceGroup(
            `rg-${args.namePrefix}`,
            { location: args.location, tags: args.tags },
            { parent: this },
        );
        this.resourceGroupName = this.resourceGroup.name;

        this.virtualNetwork = new network.VirtualNetwork(
            `vnet-${args.namePrefix}`,
            {
                resourceGroupName: this.resourceGroup.name,
                location: args.location,
                addressSpace: { addressPrefixes: [args.vnetCidr] },
                tags: args.tags,
            },
            // Subnets are separate resources below: never let a VNet update touch them.
            { parent: this, ignoreChanges: ["subnets"] },
        );

        // Azure serialises writes to one VNet and rejects concurrent subnet operations
        // ("AnotherOperationInProgress"), so the subnets are created one after another.
        this.subnets = {};
        let previous: network.Subnet | undefined;
        for (const s of args.subnets) {
            const subnet = new network.Subnet(
                `snet-${s.name}`,
                {
                    resourceGroupName: this.resourceGroup.name,
                    virtualNetworkName: this.virtualNetwork.name,
                    subnetName: `snet-${s.name}`,
                    addressPrefix: s.cidr,
                },
                { parent: this, dependsOn: previous ? [previous] : [] },
            );
            this.subnets[s.name] = subnet;
            previous = subnet;
        }

        this.egressIps = {};
        for (const s of args.subnets.filter((s) => s.egressIp)) {
            this.egressIps[s.name] = new network.PublicIPAddress(
                `pip-egress-${s.name}`,
                {
                    resourceGroupName: this.resourceGroup.name,
                    location: args.location,
                    // AKS's outbound load balancer is Standard and needs Standard, static, IPv4 addresses.
                    sku: { name: "Standard", tier: "Regional" },
                    publicIPAllocationMethod: "Static",
                    publicIPAddressVersion: "IPv4",
                    tags: args.tags,
                },
                { parent: this },
            );
        }

        this.registerOutputs({
            resourceGroupName: this.resourceGroupName,
            virtualNetworkName: this.virtualNetwork.name,
            subnetIds: Object.fromEntries(Object.entries(this.subnets).map(([k, s]) => [k, s.id])),
        });
    }
}
