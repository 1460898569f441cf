import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";

/** One cluster's slice of the network. */
export interface AzureNetworkSubnetArgs {
    /** Key of the subnet (the Istio cluster name); also its logical and Azure name. */
    name: string;
    /** The subnet's address prefix, inside the VNet: a subnet is made. Exactly one of `cidr` and `id`. */
    cidr?: string;
    /** A subnet that already exists (its ARM ID, in `vnetId`'s VNet): nothing is made. */
    id?: string;
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
    /** VNet address space (of the VNet made here; unused with `vnetId`). */
    vnetCidr: string;
    /**
     * A VNet that already exists (its ARM ID): none is made; subnets with a `cidr` are made in it, those with an `id`
     * are used as they are.
     */
    vnetId?: string;
    subnets: AzureNetworkSubnetArgs[];
    tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** The parts of a VNet's ARM ID, or undefined when it is not one. */
export function parseVnetId(id: string): { subscriptionId: string; resourceGroupName: string; name: string } | undefined {
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/virtualNetworks\/([^/]+)$/i.exec(id);
    return m ? { subscriptionId: m[1], resourceGroupName: m[2], name: m[3] } : undefined;
}

/** Whether a subnet's ARM ID is a subnet of this VNet (ARM IDs compare without regard to case). */
export function subnetOfVnet(subnetId: string, vnetId: string): boolean {
    const prefix = `${vnetId.toLowerCase()}/subnets/`;
    return subnetId.toLowerCase().startsWith(prefix) && /^[^/]+$/.test(subnetId.slice(prefix.length));
}

export class AzureNetwork extends pulumi.ComponentResource {
    public readonly resourceGroup: resources.ResourceGroup;
    public readonly resourceGroupName: pulumi.Output<string>;
    /** The VNet made here (none with `vnetId`). */
    public readonly virtualNetwork?: network.VirtualNetwork;
    /** Name of the VNet, made here or not. */
    public readonly virtualNetworkName: pulumi.Output<string>;
    /** Subnets made here, by key. */
    public readonly subnets: Record<string, network.Subnet>;
    /** Every subnet's ID by key, made here or given. */
    public readonly subnetIds: Record<string, pulumi.Output<string>>;
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

        // An existing VNet is named by its ID: /subscriptions/<s>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>.
        const existing = args.vnetId ? parseVnetId(args.vnetId) : undefined;
        if (!existing) {
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
        }
        this.virtualNetworkName = existing ? pulumi.output(existing.name) : this.virtualNetwork!.name;
        const vnetGroup = existing ? pulumi.output(existing.resourceGroupName) : this.resourceGroup.name;

        // Azure serialises writes to one VNet and rejects concurrent subnet operations
        // ("AnotherOperationInProgress"), so the subnets are created one after another.
        this.subnets = {};
        this.subnetIds = {};
        let previous: network.Subnet | undefined;
        for (const s of args.subnets) {
            if (s.id) {
                this.subnetIds[s.name] = pulumi.output(s.id);
                continue;
            }
            const subnet = new network.Subnet(
                `snet-${s.name}`,
                {
                    resourceGroupName: vnetGroup,
                    virtualNetworkName: this.virtualNetworkName,
                    subnetName: `snet-${s.name}`,
                    addressPrefix: s.cidr,
                },
                { parent: this, dependsOn: previous ? [previous] : [] },
            );
            this.subnets[s.name] = subnet;
            this.subnetIds[s.name] = subnet.id;
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
            virtualNetworkName: this.virtualNetworkName,
            subnetIds: this.subnetIds,
        });
    }
}
