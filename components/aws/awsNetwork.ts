import * as pulumi from "@pulumi/pulumi";
import * as ec2 from "@pulumi/aws/ec2";
import * as vpc from "@pulumi/aws/vpc";
import { getAvailabilityZonesOutput } from "@pulumi/aws/getAvailabilityZones";
import { ipv6Subnet64, planIpv4Subnets } from "./awsCidr";

/**
 * One dual-stack VPC for every EKS cluster of the mesh: an IPv4 block from config plus an Amazon-provided
 * IPv6 /56, a public and a private subnet per availability zone (each with a /64), an internet gateway, NAT
 * for IPv4 egress from private subnets, an egress-only internet gateway for IPv6, and the subnet tags the AWS
 * Load Balancer Controller discovers subnets by.
 *
 * Per cluster it also makes two security groups, with only the rules the mesh needs between clusters:
 * - `nodes[c]`: on cluster c's nodes. Ingress: everything from every other cluster's nodes (pod-to-pod on
 *   one network; a security-group reference matches IPv4 and IPv6 addresses alike), and TCP 15012/15017
 *   from c's own control plane. Egress: everything, IPv4 (0.0.0.0/0) and IPv6 (::/0), so that IPv4 pods can
 *   leave over IPv6 and IPv6 pods over IPv4.
 * - `controlPlane[c]`: on cluster c's API server ENIs. Ingress: TCP 443 from every other cluster's nodes
 *   (istiod there reads this cluster's API). Egress: TCP 15012/15017 to c's own nodes.
 * Node ↔ own control plane traffic otherwise stays on the security group EKS creates for each cluster.
 */
export interface AwsNetworkArgs {
    /**
     * A VPC that already exists (`vpc-…`): no VPC, subnets, gateways or routes are made, only the security groups and
     * their rules; the clusters go on subnets of yours. vpcCidr, availabilityZoneCount and natGateways are not used.
     */
    vpcId?: string;
    /** IPv4 block of the VPC, such as 10.0.0.0/16. */
    vpcCidr: string;
    /** How many availability zones get a public and a private subnet (at least 2 for EKS). */
    availabilityZoneCount: number;
    /** "single": one NAT gateway for the VPC (cheaper); "perZone": one per zone (no cross-zone dependency). */
    natGateways: string;
    /** Clusters (their EKS names) that get a pair of security groups. */
    clusterNames: string[];
    /** Tags for every resource. */
    tags?: Record<string, string>;
}

export const ELB_ROLE_TAG = "kubernetes.io/role/elb";
export const INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb";
/** Ports the control plane calls on nodes for Istio: istiod's xDS/CA (15012) and its webhooks (15017). */
export const ISTIOD_PORTS_FROM_CONTROL_PLANE = [15012, 15017];

/** The first `count` zones, or an error naming the setting when the region has fewer. */
export function pickZones(names: string[], count: number): string[] {
    if (names.length < count) {
        throw new Error(
            `istio-multicluster:aws.availabilityZoneCount is ${count}, but this region has only ${names.length} available zones (${names.join(", ")}); lower it or pick another region`,
        );
    }
    return names.slice(0, count);
}

export class AwsNetwork extends pulumi.ComponentResource {
    /** The VPC made here (none with `vpcId`). */
    public readonly vpc?: ec2.Vpc;
    public readonly vpcId: pulumi.Output<string>;
    public readonly publicSubnets: ec2.Subnet[];
    public readonly privateSubnets: ec2.Subnet[];
    public readonly publicSubnetIds: pulumi.Output<string>[];
    public readonly privateSubnetIds: pulumi.Output<string>[];
    /** Security group for each cluster's nodes, by cluster name. */
    public readonly nodeSecurityGroups: Record<string, ec2.SecurityGroup>;
    /** Additional security group for each cluster's control plane, by cluster name. */
    public readonly controlPlaneSecurityGroups: Record<string, ec2.SecurityGroup>;
    /** Routes, gateways and rules: what must exist before anything in the VPC can reach out (their URNs). */
    public readonly egressReady: pulumi.Output<string[]>;

    constructor(name: string, args: AwsNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:AwsNetwork", name, {}, opts);
        const tags = (extra: Record<string, string>) => ({ ...(args.tags ?? {}), ...extra });
        const egressReady: pulumi.Resource[] = [];
        if (args.vpcId) {
            this.vpcId = pulumi.output(args.vpcId);
            this.privateSubnets = [];
            this.publicSubnets = [];
        } else {
            const vpc = this.makeVpc(name, args, tags, egressReady);
            this.vpc = vpc.vpc;
            this.vpcId = vpc.vpc.id;
            this.privateSubnets = vpc.privateSubnets;
            this.publicSubnets = vpc.publicSubnets;
        }
        this.privateSubnetIds = this.privateSubnets.map((s) => s.id);
        this.publicSubnetIds = this.publicSubnets.map((s) => s.id);

        // Security groups first (no inline rules), then the rules between them.
        this.nodeSecurityGroups = {};
        this.controlPlaneSecurityGroups = {};
        for (const c of args.clusterNames) {
            this.nodeSecurityGroups[c] = new ec2.SecurityGroup(
                `${name}-${c}-nodes`,
                { vpcId: this.vpcId, description: `Nodes of EKS cluster ${c}: cross-cluster mesh traffic`, revokeRulesOnDelete: true, tags: tags({ Name: `${c}-nodes` }) },
                { parent: this },
            );
            this.controlPlaneSecurityGroups[c] = new ec2.SecurityGroup(
                `${name}-${c}-control-plane`,
                { vpcId: this.vpcId, description: `API server of EKS cluster ${c}: reachable from the other clusters' nodes`, revokeRulesOnDelete: true, tags: tags({ Name: `${c}-control-plane` }) },
                { parent: this },
            );
        }
        for (const c of args.clusterNames) {
            const nodes = this.nodeSecurityGroups[c];
            const controlPlane = this.controlPlaneSecurityGroups[c];
            for (const other of args.clusterNames.filter((o) => o !== c)) {
                const otherNodes = this.nodeSecurityGroups[other];
                egressReady.push(
                    new vpc.SecurityGroupIngressRule(
                        `${name}-${c}-nodes-from-${other}-nodes`,
                        { securityGroupId: nodes.id, referencedSecurityGroupId: otherNodes.id, ipProtocol: "-1", description: `All traffic from ${other}'s nodes and pods (one mesh network)`, tags: args.tags },
                        { parent: this },
                    ),
                    new vpc.SecurityGroupIngressRule(
                        `${name}-${c}-api-from-${other}-nodes`,
                        { securityGroupId: controlPlane.id, referencedSecurityGroupId: otherNodes.id, ipProtocol: "tcp", fromPort: 443, toPort: 443, description: `API server from ${other}'s nodes (its istiod reads this cluster)`, tags: args.tags },
                        { parent: this },
                    ),
                );
            }
            for (const port of ISTIOD_PORTS_FROM_CONTROL_PLANE) {
                egressReady.push(
                    new vpc.SecurityGroupIngressRule(
                        `${name}-${c}-nodes-${port}-from-control-plane`,
                        { securityGroupId: nodes.id, referencedSecurityGroupId: controlPlane.id, ipProtocol: "tcp", fromPort: port, toPort: port, description: `istiod port ${port} from ${c}'s control plane`, tags: args.tags },
                        { parent: this },
                    ),
                    new vpc.SecurityGroupEgressRule(
                        `${name}-${c}-control-plane-${port}-to-nodes`,
                        { securityGroupId: controlPlane.id, referencedSecurityGroupId: nodes.id, ipProtocol: "tcp", fromPort: port, toPort: port, description: `istiod port ${port} on ${c}'s nodes`, tags: args.tags },
                        { parent: this },
                    ),
                );
            }
            egressReady.push(
                new vpc.SecurityGroupEgressRule(
                    `${name}-${c}-nodes-egress-ipv4`,
                    { securityGroupId: nodes.id, cidrIpv4: "0.0.0.0/0", ipProtocol: "-1", description: "All IPv4 egress", tags: args.tags },
                    { parent: this },
                ),
                new vpc.SecurityGroupEgressRule(
                    `${name}-${c}-nodes-egress-ipv6`,
                    { securityGroupId: nodes.id, cidrIpv6: "::/0", ipProtocol: "-1", description: "All IPv6 egress", tags: args.tags },
                    { parent: this },
                ),
            );
        }
        this.egressReady = pulumi.output(egressReady.map((r) => r.urn));

        this.registerOutputs({ vpcId: this.vpcId, privateSubnetIds: this.privateSubnetIds, publicSubnetIds: this.publicSubnetIds });
    }

    /** The dual-stack VPC, its subnets, gateways and routes; routes and associations go to `egressReady`. */
    private makeVpc(name: string, args: AwsNetworkArgs, tags: (extra: Record<string, string>) => Record<string, string>, egressReady: pulumi.Resource[]) {
        const plan = planIpv4Subnets(args.vpcCidr, args.availabilityZoneCount);
        const zoneCount = args.availabilityZoneCount;

        // Local Zones and Wavelength Zones cannot host EKS control planes; keep to regular zones.
        const zones = getAvailabilityZonesOutput(
            { state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] },
            { parent: this },
        ).names.apply((names) => pickZones(names, zoneCount));

        const vpcResource = new ec2.Vpc(
            `${name}-vpc`,
            {
                cidrBlock: args.vpcCidr,
                assignGeneratedIpv6CidrBlock: true,
                enableDnsSupport: true,
                // EKS private endpoints resolve through the VPC's DNS: both flags are required.
                enableDnsHostnames: true,
                tags: tags({ Name: name }),
            },
            { parent: this },
        );

        const igw = new ec2.InternetGateway(`${name}-igw`, { vpcId: vpcResource.id, tags: tags({ Name: `${name}-igw` }) }, { parent: this });
        const eigw = new ec2.EgressOnlyInternetGateway(`${name}-eigw`, { vpcId: vpcResource.id, tags: tags({ Name: `${name}-eigw` }) }, { parent: this });

        const subnet = (kind: "public" | "private", i: number, ipv6Index: number) =>
            new ec2.Subnet(
                `${name}-${kind}-${i}`,
                {
                    vpcId: vpcResource.id,
                    availabilityZone: zones.apply((z) => z[i]),
                    cidrBlock: (kind === "public" ? plan.public : plan.private)[i],
                    ipv6CidrBlock: vpcResource.ipv6CidrBlock.apply((block) => ipv6Subnet64(block, ipv6Index)),
                    assignIpv6AddressOnCreation: true,
                    enableResourceNameDnsAaaaRecordOnLaunch: true,
                    mapPublicIpOnLaunch: false,
                    tags: tags({
                        Name: `${name}-${kind}-${i}`,
                        ...(kind === "public" ? { [ELB_ROLE_TAG]: "1" } : { [INTERNAL_ELB_ROLE_TAG]: "1" }),
                    }),
                },
                { parent: this },
            );
        // IPv6 /64s: private subnets take 0..n-1, public ones n..2n-1.
        const privateSubnets = Array.from({ length: zoneCount }, (_, i) => subnet("private", i, i));
        const publicSubnets = Array.from({ length: zoneCount }, (_, i) => subnet("public", i, zoneCount + i));

        // Public subnets: both families straight out through the internet gateway.
        const publicRoutes = new ec2.RouteTable(`${name}-public`, { vpcId: vpcResource.id, tags: tags({ Name: `${name}-public` }) }, { parent: this });
        egressReady.push(
            new ec2.Route(`${name}-public-ipv4`, { routeTableId: publicRoutes.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id }, { parent: this }),
            new ec2.Route(`${name}-public-ipv6`, { routeTableId: publicRoutes.id, destinationIpv6CidrBlock: "::/0", gatewayId: igw.id }, { parent: this }),
        );
        publicSubnets.forEach((s, i) => {
            egressReady.push(new ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: s.id, routeTableId: publicRoutes.id }, { parent: this }));
        });

        // Private subnets: IPv4 through NAT, IPv6 through the egress-only gateway (no inbound from outside).
        const natCount = args.natGateways === "perZone" ? zoneCount : 1;
        const nats = Array.from({ length: natCount }, (_, i) => {
            const eip = new ec2.Eip(`${name}-nat-${i}`, { domain: "vpc", tags: tags({ Name: `${name}-nat-${i}` }) }, { parent: this, dependsOn: [igw] });
            return new ec2.NatGateway(
                `${name}-nat-${i}`,
                { allocationId: eip.id, subnetId: publicSubnets[i].id, connectivityType: "public", tags: tags({ Name: `${name}-nat-${i}` }) },
                { parent: this, dependsOn: [igw] },
            );
        });
        privateSubnets.forEach((s, i) => {
            const table = new ec2.RouteTable(`${name}-private-${i}`, { vpcId: vpcResource.id, tags: tags({ Name: `${name}-private-${i}` }) }, { parent: this });
            egressReady.push(
                new ec2.Route(`${name}-private-${i}-ipv4`, { routeTableId: table.id, destinationCidrBlock: "0.0.0.0/0", natGatewayId: nats[i % natCount].id }, { parent: this }),
                new ec2.Route(`${name}-private-${i}-ipv6`, { routeTableId: table.id, destinationIpv6CidrBlock: "::/0", egressOnlyGatewayId: eigw.id }, { parent: this }),
                new ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: s.id, routeTableId: table.id }, { parent: this }),
            );
        });
        return { vpc: vpcResource, privateSubnets, publicSubnets };
    }
}
