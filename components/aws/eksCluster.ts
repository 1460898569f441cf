import * as pulumi from "@pulumi/pulumi";
import * as eks from "@pulumi/eks";
import * as awsEks from "@pulumi/aws/eks";
import * as ec2 from "@pulumi/aws/ec2";
import * as iam from "@pulumi/aws/iam";
import * as k8s from "@pulumi/kubernetes";
import { Cluster, MeshClusterArgs, meshClusterFields } from "../core/cluster";
import { AwsLoadBalancerController } from "./awsLoadBalancerController";
import { waitFor } from "../common/dependencies";

/**
 * One EKS cluster ready for the mesh: the control plane (`@pulumi/eks`) with private and CIDR-restricted
 * public API access, the VPC CNI add-on configured for the other IP family's egress, a managed node group
 * whose role carries what the CNI needs for the cluster's IP family, the EKS Pod Identity agent, the AWS
 * Load Balancer Controller, and finally the mesh core's `Cluster` bound to it: an `EksCluster` goes into a
 * `Mesh` as it is.
 *
 * Everything the mesh puts into it waits (readyDependencies) for the node group and CoreDNS; gateway
 * Services also wait (loadBalancerDependencies) for the Load Balancer Controller, so they are created after
 * it and deleted before it.
 */
export interface EksClusterArgs {
    /** EKS cluster name, also the Istio cluster ID. */
    clusterName: string;
    /** Istio network. */
    network: string;
    /** Pod and Service IP family, "ipv4" or "ipv6" (creation only: changing it replaces the cluster). */
    ipFamily: string;
    /** Kubernetes minor version, such as "1.35". */
    kubernetesVersion: string;
    vpcId: pulumi.Input<string>;
    publicSubnetIds: pulumi.Input<string>[];
    privateSubnetIds: pulumi.Input<string>[];
    /** Extra security group for the API server ENIs (rules made by AwsNetwork). */
    controlPlaneSecurityGroup: ec2.SecurityGroup;
    /** Extra security group for the nodes (rules made by AwsNetwork). */
    nodeSecurityGroup: ec2.SecurityGroup;
    /** IPv4 blocks that may reach the public API endpoint; empty turns the public endpoint off. */
    publicAccessCidrs: string[];
    instanceTypes: string[];
    amiType: string;
    minNodes: number;
    desiredNodes: number;
    maxNodes: number;
    /** Version of the aws-load-balancer-controller chart. */
    loadBalancerControllerChartVersion: string;
    /** "internal" or "internet-facing": scheme of the NLB behind gateway Services (east-west gateways). */
    gatewayLoadBalancerScheme: string;
    region: pulumi.Input<string>;
    partition: pulumi.Input<string>;
    /** What the nodes need before they join (routes, NAT), as outputs of those resources (`urn`s). */
    networkDependencies?: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * IAM principals that may use the cluster besides the identity that creates it (EKS access entries with AWS's
     * access policies), e.g. a CI role and an admin role.
     */
    accessEntries?: EksAccessEntry[];
    tags?: Record<string, string>;
}

/** Who may use an EKS cluster, and how much. */
export interface EksAccessEntry {
    /** IAM role or user ARN (`arn:aws:iam::<account>:role/<name>`). */
    principalArn: string;
    /** "cluster-admin", "admin", "edit" or "view": AWS's access policies of those names (AmazonEKSClusterAdminPolicy, …). */
    access: string;
    /** Only in these namespaces (not with "cluster-admin"); default the whole cluster. */
    namespaces?: string[];
}

/** The AWS-managed EKS access policy behind each level of access. */
export const EKS_ACCESS_POLICIES: Record<string, string> = {
    "cluster-admin": "AmazonEKSClusterAdminPolicy",
    admin: "AmazonEKSAdminPolicy",
    edit: "AmazonEKSEditPolicy",
    view: "AmazonEKSViewPolicy",
};

/** What is wrong with an access entry ("access must be …"), or undefined. */
export function accessEntryProblem(entry: EksAccessEntry): string | undefined {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/\S+$/.test(entry.principalArn)) return `principalArn must be an IAM role or user ARN such as arn:aws:iam::123456789012:role/ci-deployer, got "${entry.principalArn}"`;
    if (!EKS_ACCESS_POLICIES[entry.access]) return `access must be one of ${Object.keys(EKS_ACCESS_POLICIES).join(", ")}, got "${entry.access}"`;
    if (entry.namespaces !== undefined && entry.access === "cluster-admin") return "namespaces cannot narrow cluster-admin, which is cluster-wide; use admin, edit or view in namespaces";
    if (entry.namespaces !== undefined && entry.namespaces.length === 0) return "namespaces must list at least one namespace (leave it out for the whole cluster)";
    return undefined;
}

/**
 * `@pulumi/eks` access entries: one per principal, keyed by the principal's name (stable when the list is reordered),
 * each with the access policy of its level, scoped to the cluster or to its namespaces.
 */
export function eksAccessEntries(entries: EksAccessEntry[], partition: pulumi.Input<string>): Record<string, eks.types.input.AccessEntryArgs> {
    return Object.fromEntries(
        entries.map((e) => [
            accessEntryKey(e.principalArn),
            {
                principalArn: e.principalArn,
                accessPolicies: {
                    [e.access]: {
                        policyArn: pulumi.interpolate`arn:${partition}:eks::aws:cluster-access-policy/${EKS_ACCESS_POLICIES[e.access]}`,
                        accessScope: e.namespaces ? { type: "namespace", namespaces: e.namespaces } : { type: "cluster" },
                    },
                },
            },
        ]),
    );
}

/** `arn:aws:iam::123456789012:role/ops/ci-deployer` → `role-ops-ci-deployer`. */
export const accessEntryKey = (principalArn: string) => principalArn.split(":").slice(5).join(":").replace(/[^A-Za-z0-9-]+/g, "-");

/**
 * VPC CNI add-on configuration (`configurationValues`). One network across an IPv4 and an IPv6 cluster
 * needs egress to the other family: IPv4 pods get a host-local IPv6 address SNATed to the node's
 * (ENABLE_V6_EGRESS, in aws-node and in its init container, which enables IPv6 forwarding on the node);
 * IPv6 pods are SNATed to the node's IPv4 address (ENABLE_V4_EGRESS). This is what the hand-applied
 * `kubectl patch daemonset aws-node` did; as add-on configuration it survives add-on upgrades.
 */
export function vpcCniConfiguration(ipFamily: string): { env: Record<string, string>; init?: { env: Record<string, string> } } {
    if (ipFamily === "ipv6") {
        return {
            // EKS configures the add-on's IPv6 mode from the cluster's IP family; only the egress flag is ours.
            env: { ENABLE_V4_EGRESS: "true" },
        };
    }
    return { env: { ENABLE_V6_EGRESS: "true" }, init: { env: { ENABLE_V6_EGRESS: "true" } } };
}

/**
 * Annotations that hand a LoadBalancer Service to the AWS Load Balancer Controller as an NLB targeting pod
 * IPs; dual-stack on IPv6 clusters (an NLB needs it to reach IPv6 targets).
 */
export function gatewayServiceAnnotations(ipFamily: string, scheme: string): Record<string, string> {
    return {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": scheme,
        ...(ipFamily === "ipv6" ? { "service.beta.kubernetes.io/aws-load-balancer-ip-address-type": "dualstack" } : {}),
    };
}

/** What the VPC CNI needs in an IPv6 cluster (AWS documents it; there is no AWS-managed policy for it). */
export function cniIpv6Policy(partition: string): Record<string, unknown> {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Effect: "Allow",
                Action: ["ec2:AssignIpv6Addresses", "ec2:DescribeInstances", "ec2:DescribeTags", "ec2:DescribeNetworkInterfaces", "ec2:DescribeInstanceTypes"],
                Resource: "*",
            },
            { Effect: "Allow", Action: ["ec2:CreateTags"], Resource: [`arn:${partition}:ec2:*:*:network-interface/*`] },
        ],
    };
}

/** AWS-managed policies every node role gets, plus the IPv4 CNI policy on IPv4 clusters. */
export function nodeManagedPolicies(ipFamily: string): string[] {
    return [
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        ...(ipFamily === "ipv6" ? [] : ["AmazonEKS_CNI_Policy"]),
    ];
}

export class EksCluster extends pulumi.ComponentResource implements MeshClusterArgs {
    /** The control plane (@pulumi/eks). */
    public readonly eks: eks.Cluster;
    public readonly nodeRole: iam.Role;
    public readonly nodeGroup: awsEks.NodeGroup;
    public readonly podIdentityAgent: awsEks.Addon;
    public readonly coreDns: awsEks.Addon;
    /** The Load Balancer Controller's Helm release (its IAM role and Pod Identity association are beside it). */
    public readonly loadBalancerControllerRelease: k8s.helm.v3.Release;
    /** The API server URL (EKS endpoint). */
    public readonly endpoint: pulumi.Output<string>;

    // What the mesh reads (MeshClusterArgs), from the `Cluster` this component ends in.
    public readonly clusterName!: string;
    public readonly network!: string;
    public readonly ipFamily!: string;
    /** Kubernetes provider bound to the cluster. */
    public readonly provider!: k8s.Provider;
    /** The EKS endpoint. */
    public readonly apiServerUrl!: pulumi.Output<string>;
    /** Admin kubeconfig (`aws eks get-token`); secret. */
    public readonly kubeconfig!: pulumi.Output<string>;
    public readonly gatewayServiceAnnotations!: pulumi.Output<Record<string, string>>;
    public readonly readyDependencies!: pulumi.Output<string[]>;
    public readonly loadBalancerDependencies!: pulumi.Output<string[]>;

    constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:EksCluster", name, {}, opts);
        if (args.ipFamily !== "ipv4" && args.ipFamily !== "ipv6") {
            throw new Error(`EksCluster ${args.clusterName}: ipFamily must be ipv4 or ipv6, got "${args.ipFamily}"`);
        }
        const accessProblems = (args.accessEntries ?? []).map((e, i) => [i, accessEntryProblem(e)] as const).filter(([, p]) => p);
        if (accessProblems.length > 0) throw new Error(`EksCluster ${args.clusterName}: ${accessProblems.map(([i, p]) => `accessEntries[${i}].${p}`).join("; ")}`);
        const tags = args.tags ?? {};
        const partition = pulumi.output(args.partition);

        // ---- node role -----------------------------------------------------------------------------
        this.nodeRole = new iam.Role(
            `${name}-node-role`,
            {
                description: `Nodes of EKS cluster ${args.clusterName}`,
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
                }),
                tags,
            },
            { parent: this },
        );
        const nodePolicies: pulumi.Resource[] = nodeManagedPolicies(args.ipFamily).map(
            (policy) =>
                new iam.RolePolicyAttachment(
                    `${name}-node-${policy}`,
                    { role: this.nodeRole.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/${policy}` },
                    { parent: this },
                ),
        );
        if (args.ipFamily === "ipv6") {
            const cniIpv6 = new iam.Policy(
                `${name}-cni-ipv6`,
                {
                    description: `VPC CNI in IPv6 EKS cluster ${args.clusterName}`,
                    policy: partition.apply((p) => JSON.stringify(cniIpv6Policy(p))),
                    tags,
                },
                { parent: this },
            );
            nodePolicies.push(new iam.RolePolicyAttachment(`${name}-node-cni-ipv6`, { role: this.nodeRole.name, policyArn: cniIpv6.arn }, { parent: this }));
        }

        // ---- control plane ---------------------------------------------------------------------------
        const publicAccess = args.publicAccessCidrs.length > 0;
        this.eks = new eks.Cluster(
            `${name}-eks`,
            {
                name: args.clusterName,
                version: args.kubernetesVersion,
                ipFamily: args.ipFamily === "ipv6" ? "ipv6" : "ipv4",
                vpcId: args.vpcId,
                // Existing private subnets only (aws.vpcId): no public subnets for the control plane's ENIs.
                ...(args.publicSubnetIds.length > 0 ? { publicSubnetIds: args.publicSubnetIds } : {}),
                privateSubnetIds: args.privateSubnetIds,
                // The other clusters' istiod reach this API server through the private endpoint.
                endpointPrivateAccess: true,
                endpointPublicAccess: publicAccess,
                publicAccessCidrs: publicAccess ? args.publicAccessCidrs : undefined,
                authenticationMode: "API",
                // Node groups and node security groups are made here, not by the component.
                skipDefaultNodeGroup: true,
                skipDefaultSecurityGroups: true,
                clusterSecurityGroup: args.controlPlaneSecurityGroup,
                createOidcProvider: false,
                vpcCniOptions: { configurationValues: vpcCniConfiguration(args.ipFamily) },
                ...(args.accessEntries?.length ? { accessEntries: eksAccessEntries(args.accessEntries, args.partition) } : {}),
                tags,
            },
            // Only its subnets and security group are needed; the routes and NAT are for the nodes. (The group
            // is passed as a resource, which records no dependency by itself.)
            { parent: this, dependsOn: [args.controlPlaneSecurityGroup] },
        );
        const control = this.eks.eksCluster;
        this.endpoint = control.apply((c) => c.endpoint);
        const eksSecurityGroupId = control.apply((c) => c.vpcConfig.clusterSecurityGroupId);
        // Changes only when the cluster is replaced: keeps the Kubernetes provider stable otherwise.
        const identity = control.apply((c) => pulumi.interpolate`${c.arn}@${c.createdAt}`);
        const kubeconfig = pulumi.secret(this.eks.kubeconfigJson);

        // ---- nodes -----------------------------------------------------------------------------------
        // Nodes carry the security group EKS made (node ↔ own control plane, load-balancer rules the
        // controller adds) and the mesh's node security group (cross-cluster traffic).
        const launchTemplate = new ec2.LaunchTemplate(
            `${name}-nodes`,
            {
                description: `Nodes of EKS cluster ${args.clusterName}`,
                vpcSecurityGroupIds: [eksSecurityGroupId, args.nodeSecurityGroup.id],
                metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 2 },
                tagSpecifications: [{ resourceType: "instance", tags: { ...tags, Name: `${args.clusterName}-node` } }],
                tags,
            },
            { parent: this },
        );
        this.nodeGroup = new awsEks.NodeGroup(
            `${name}-nodes`,
            {
                clusterName: control.apply((c) => c.name),
                nodeRoleArn: this.nodeRole.arn,
                subnetIds: args.privateSubnetIds,
                amiType: args.amiType,
                instanceTypes: args.instanceTypes,
                capacityType: "ON_DEMAND",
                scalingConfig: { minSize: args.minNodes, desiredSize: args.desiredNodes, maxSize: args.maxNodes },
                updateConfig: { maxUnavailable: 1 },
                launchTemplate: { id: launchTemplate.id, version: pulumi.interpolate`${launchTemplate.latestVersion}` },
                tags,
            },
            // The role's permissions must exist while nodes join and outlive them on destroy.
            // Nodes need their egress (routes, NAT) to join.
            { parent: this, dependsOn: waitFor(args.networkDependencies, ...nodePolicies), ignoreChanges: ["scalingConfig.desiredSize"] },
        );

        // @pulumi/eks leaves CoreDNS self-managed when it makes no node group; manage it once nodes exist.
        this.coreDns = new awsEks.Addon(
            `${name}-coredns`,
            { clusterName: this.nodeGroup.clusterName, addonName: "coredns", resolveConflictsOnCreate: "OVERWRITE", resolveConflictsOnUpdate: "OVERWRITE", tags },
            { parent: this, dependsOn: [this.nodeGroup] },
        );
        this.podIdentityAgent = new awsEks.Addon(
            `${name}-pod-identity-agent`,
            { clusterName: this.nodeGroup.clusterName, addonName: "eks-pod-identity-agent", resolveConflictsOnCreate: "OVERWRITE", resolveConflictsOnUpdate: "OVERWRITE", tags },
            { parent: this, dependsOn: [this.nodeGroup] },
        );

        // ---- the mesh's view -------------------------------------------------------------------------
        const cluster = new Cluster(
            args.clusterName,
            {
                clusterName: args.clusterName,
                network: args.network,
                ipFamily: args.ipFamily === "ipv6" ? "ipv6" : "ipv4",
                kubeconfig,
                apiServerUrl: this.endpoint,
                clusterIdentifier: identity,
                gatewayServiceAnnotations: gatewayServiceAnnotations(args.ipFamily, args.gatewayLoadBalancerScheme),
                readyDependencies: [this.nodeGroup.urn, this.coreDns.urn],
            },
            { parent: this },
        );

        // Not kept as a property: the component host cannot pass a component of this package between languages.
        const loadBalancerController = new AwsLoadBalancerController(
            `${name}-lbc`,
            {
                clusterName: this.nodeGroup.clusterName,
                vpcId: args.vpcId,
                region: args.region,
                partition: args.partition,
                chartVersion: args.loadBalancerControllerChartVersion,
                provider: cluster.provider,
                readyDependencies: [this.nodeGroup.urn, this.coreDns.urn, this.podIdentityAgent.urn],
                tags,
            },
            { parent: this },
        );
        this.loadBalancerControllerRelease = loadBalancerController.release;

        Object.assign(this, meshClusterFields(cluster), {
            // Only gateway Services need the controller: they wait for it, and are deleted before it.
            loadBalancerDependencies: pulumi.output([loadBalancerController.release.urn]),
        });

        this.registerOutputs({ endpoint: this.endpoint, kubeconfig: this.kubeconfig });
    }
}
