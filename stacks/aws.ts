/**
 * AWS: EKS clusters in one dual-stack VPC, one Istio network across them (pods are routable VPC addresses),
 * each cluster with its own IP family, VPC CNI egress to the other family, and an AWS Load Balancer
 * Controller for gateway NLBs.
 */
import * as pulumi from "@pulumi/pulumi";
import { getPartitionOutput } from "@pulumi/aws/getPartition";
import { getRegionOutput } from "@pulumi/aws/getRegion";
import { z } from "zod";
import { AwsNetwork } from "../components/aws/awsNetwork";
import { EksCluster } from "../components/aws/eksCluster";
import { checkPublicAccessCidr, checkVpcCidr, parseIpv4Block } from "../components/aws/awsCidr";
import { cidrsOverlap } from "../components/common/cidr";
import { Platform, PlatformClusters } from "./platform";
import { ConfigError, clusterList, commonClusterFields, commonSettings, dns1123Label, formatPath, fromText, ipFamilySetting, kubernetesVersionProblems, validate } from "./config";
import { accessEntryProblem, EKS_ACCESS_POLICIES, gatewayServiceAnnotations } from "../components/aws/eksCluster";
import { getSubnetOutput } from "@pulumi/aws/ec2";

export const DEFAULT_KUBERNETES_VERSION = "1.35";
/** Chart 1.17.1 = controller v2.17.1, the last v2 release seen; the permissions below are written for v2. */
export const DEFAULT_LBC_CHART_VERSION = "1.17.1";
export const AMI_TYPES = ["AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"] as const;
export const NAT_GATEWAY_MODES = ["single", "perZone"] as const;
/** EKS accepts at most this many public access CIDRs. */
export const MAX_PUBLIC_ACCESS_CIDRS = 40;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;

const kubernetesVersion = z
    .string({ error: `must be a string such as "${DEFAULT_KUBERNETES_VERSION}"` })
    // Which minors are allowed depends on istioVersion: see crossCheck.
    .regex(/^1\.\d+$/, { error: `must be a Kubernetes minor version "1.x", such as "${DEFAULT_KUBERNETES_VERSION}"` });

const nodeCount = (what: string) =>
    z
        .number({ error: `must be a whole number (${what})` })
        .int({ error: `must be a whole number (${what})` })
        .min(0, { error: `must not be negative (${what})` })
        .max(450, { error: `must be at most 450 (${what}; the EKS managed node group limit)` });

const ipv4CidrList = z
    .array(z.string({ error: "must be an IPv4 CIDR string such as \"203.0.113.0/24\"" }), {
        error: "must be a list of IPv4 CIDRs, such as [\"203.0.113.0/24\"]",
    })
    .max(MAX_PUBLIC_ACCESS_CIDRS, { error: `must list at most ${MAX_PUBLIC_ACCESS_CIDRS} CIDRs (the EKS limit)` })
    .superRefine((cidrs, ctx) => {
        cidrs.forEach((cidr, i) => {
            const problem = checkPublicAccessCidr(cidr);
            if (problem) ctx.addIssue({ code: "custom", path: [i], message: `${problem} (EKS public endpoint access lists take IPv4 blocks)` });
        });
    });

/** One EKS cluster in `istio-multicluster:clusters`. */
export const awsClusterSchema = z
    .strictObject({
        ...commonClusterFields,
        /** Pod and Service IP family; fixed at creation. */
        ipFamily: ipFamilySetting(", fixed when the cluster is created"),
        kubernetesVersion: kubernetesVersion.default(DEFAULT_KUBERNETES_VERSION),
        instanceTypes: z
            .array(
                z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: "must be an EC2 instance type such as \"m5.large\"" }),
                { error: "must be a list of EC2 instance types, such as [\"m5.large\"]" },
            )
            .min(1, { error: "must list at least one EC2 instance type" })
            .default(["m5.large"]),
        amiType: z.enum(AMI_TYPES, { error: `must be one of ${AMI_TYPES.join(", ")}` }).default("AL2023_x86_64_STANDARD"),
        minNodes: fromText(nodeCount("minimum nodes")).default(1),
        desiredNodes: fromText(nodeCount("nodes at creation")).default(2),
        maxNodes: fromText(nodeCount("maximum nodes").min(1, { error: "must be at least 1 (maximum nodes)" })).default(3),
        /** IPv4 blocks that may reach the public API endpoint (the private endpoint is always on); [] = private only. */
        publicAccessCidrs: ipv4CidrList.default(["0.0.0.0/0"]),
        /** With aws.vpcId: existing private subnets for this cluster (its control plane's ENIs and its nodes). */
        subnetIds: z
            .array(z.string({ error: "must be a subnet ID such as subnet-0123456789abcdef0" }).regex(SUBNET_ID, { error: "must be a subnet ID such as subnet-0123456789abcdef0" }), {
                error: 'must be a list of subnet IDs, such as ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]',
            })
            .min(2, { error: "must list at least two subnets, in two availability zones (EKS needs two)" })
            .refine((ids) => new Set(ids).size === ids.length, { error: "lists a subnet twice" })
            .optional(),
        /** IAM principals given access to the cluster (EKS access entries with AWS's access policies). */
        accessEntries: z
            .array(
                z.strictObject({
                    principalArn: z.string({ error: "must be an IAM role or user ARN" }),
                    access: z.enum(Object.keys(EKS_ACCESS_POLICIES) as [string, ...string[]], { error: `must be one of ${Object.keys(EKS_ACCESS_POLICIES).join(", ")}` }),
                    namespaces: z.array(dns1123Label("namespace"), { error: "must be a list of namespaces" }).optional(),
                }),
                { error: 'must be a list of {principalArn, access, namespaces?}, e.g. [{"principalArn": "arn:aws:iam::123456789012:role/ci-deployer", "access": "cluster-admin"}]' },
            )
            .default([]),
    })
    .superRefine((c, ctx) => {
        if (!(c.minNodes <= c.desiredNodes && c.desiredNodes <= c.maxNodes)) {
            ctx.addIssue({
                code: "custom",
                path: ["desiredNodes"],
                message: `node counts must satisfy minNodes ≤ desiredNodes ≤ maxNodes; got ${c.minNodes} ≤ ${c.desiredNodes} ≤ ${c.maxNodes}`,
            });
        }
        if (c.desiredNodes < 1) {
            ctx.addIssue({ code: "custom", path: ["desiredNodes"], message: "must be at least 1: Istio and the Load Balancer Controller need a node to run on" });
        }
        const principals = new Set<string>();
        c.accessEntries.forEach((entry, i) => {
            const problem = accessEntryProblem(entry);
            if (problem) ctx.addIssue({ code: "custom", path: ["accessEntries", i, problem.split(" ")[0]], message: problem.slice(problem.indexOf(" ") + 1) });
            if (principals.has(entry.principalArn)) ctx.addIssue({ code: "custom", path: ["accessEntries", i, "principalArn"], message: `${entry.principalArn} is listed twice; EKS allows one access entry per principal` });
            principals.add(entry.principalArn);
        });
    });

/** `istio-multicluster:aws`: the VPC and what every cluster shares. */
export const awsSectionSchema = z
    .strictObject({
        /** A VPC that already exists: no VPC, subnets, gateways or routes are made (each cluster names its subnetIds). */
        vpcId: z.string({ error: "must be a VPC ID such as vpc-0123456789abcdef0" }).regex(/^vpc-[0-9a-f]{8,17}$/, { error: "must be a VPC ID such as vpc-0123456789abcdef0" }).optional(),
        /** IPv4 block of the VPC; the IPv6 block is always Amazon-provided (/56). */
        vpcCidr: z.string({ error: "must be an IPv4 CIDR string such as \"10.0.0.0/16\"" }).default("10.0.0.0/16"),
        availabilityZoneCount: fromText(
            z
                .number({ error: "must be a whole number from 2 to 6" })
                .int({ error: "must be a whole number from 2 to 6" })
                .min(2, { error: "must be at least 2: EKS needs subnets in two availability zones" })
                .max(6, { error: "must be at most 6" }),
        ).default(3),
        natGateways: z.enum(NAT_GATEWAY_MODES, { error: `must be one of ${NAT_GATEWAY_MODES.join(", ")}` }).default("single"),
        loadBalancerControllerChartVersion: z
            .string({ error: "must be a chart version string such as \"1.17.1\"" })
            .regex(/^\d+\.\d+\.\d+$/, { error: `must be an exact chart version "x.y.z", such as "${DEFAULT_LBC_CHART_VERSION}"` })
            .default(DEFAULT_LBC_CHART_VERSION),
        /** Tags for every AWS resource. */
        tags: z
            .record(z.string(), z.string({ error: "tag values must be strings" }))
            .superRefine((tags, ctx) => {
                for (const key of Object.keys(tags)) {
                    if (key.toLowerCase().startsWith("aws:")) ctx.addIssue({ code: "custom", path: [key], message: `tag key "${key}": the "aws:" prefix is reserved by AWS` });
                }
            })
            .default({}),
    })
    .superRefine((aws, ctx) => {
        const problem = checkVpcCidr(aws.vpcCidr, aws.availabilityZoneCount);
        if (problem) ctx.addIssue({ code: "custom", path: ["vpcCidr"], message: problem });
    })
    .default({ vpcCidr: "10.0.0.0/16", availabilityZoneCount: 3, natGateways: "single", loadBalancerControllerChartVersion: DEFAULT_LBC_CHART_VERSION, tags: {} });

export const awsSettingsSchema = z.strictObject({
    ...commonSettings,
    aws: awsSectionSchema,
    clusters: clusterList(awsClusterSchema),
});
export type AwsSettings = z.output<typeof awsSettingsSchema>;

/** An existing VPC and its subnets go together; the settings of a VPC the program makes do not apply to it. */
export function existingVpcProblems(raw: Record<string, unknown>, settings: AwsSettings): string[] {
    const problems: string[] = [];
    const rawAws = (raw.aws ?? {}) as Record<string, unknown>;
    if (settings.aws.vpcId) {
        for (const key of ["vpcCidr", "availabilityZoneCount", "natGateways"]) {
            if (rawAws[key] !== undefined) problems.push(`${formatPath(["aws", key])}: not used with aws.vpcId (the program makes no VPC, subnets or NAT gateways there); remove it`);
        }
        settings.clusters.forEach((c, i) => {
            if (!c.subnetIds) problems.push(`${formatPath(["clusters", i, "subnetIds"])}: required with aws.vpcId: at least two private subnets of that VPC, in two availability zones`);
        });
    } else {
        settings.clusters.forEach((c, i) => {
            if (c.subnetIds) problems.push(`${formatPath(["clusters", i, "subnetIds"])}: only used with aws.vpcId (the VPC these subnets are in); without it the program makes the VPC and its subnets`);
        });
    }
    return problems;
}

/** Checks that need the whole topology: what one field cannot know. */
export function crossCheck(settings: AwsSettings): string[] {
    const problems: string[] = [];
    // An existing VPC's address range is not in the settings: only AWS can check public access CIDRs against it.
    const vpc = settings.aws.vpcId ? "unknown" : parseIpv4Block(settings.aws.vpcCidr);
    settings.clusters.forEach((c, i) => {
        // An open endpoint next to a private VPC is allowed (it is EKS's default), just not silently.
        if (c.publicAccessCidrs.includes("0.0.0.0/0")) {
            pulumi.log.warn(`${formatPath(["clusters", i, "publicAccessCidrs"])}: the public API endpoint of ${c.name} is open to 0.0.0.0/0; restrict it to your own addresses`);
        }
        if (typeof vpc !== "string") {
            c.publicAccessCidrs.forEach((cidr, j) => {
                const block = parseIpv4Block(cidr);
                if (typeof block !== "string" && block.prefix > 0 && cidrsOverlap(block, vpc)) {
                    problems.push(
                        `${formatPath(["clusters", i, "publicAccessCidrs", j])}: "${cidr}" is inside the VPC (${settings.aws.vpcCidr}); traffic from the VPC uses the private endpoint, so list the public addresses of your operators or CI here`,
                    );
                }
            });
        }
    });
    return problems;
}

/**
 * Reads, checks and completes the AWS settings; throws one ConfigError listing every problem, `regionProblems`
 * (the provider's region, from checkRegion) included.
 */
export function awsSettings(raw: Record<string, unknown>, regionProblems: string[] = []): AwsSettings {
    // Which Kubernetes versions are allowed depends on istioVersion: checked on the raw settings, so that it is
    // reported together with everything else.
    const fromRaw = [...kubernetesVersionProblems(raw, DEFAULT_KUBERNETES_VERSION), ...regionProblems];
    let settings: AwsSettings;
    try {
        settings = validate(awsSettingsSchema, raw);
    } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError([...e.problems, ...fromRaw]);
        throw e;
    }
    const problems = [...fromRaw, ...existingVpcProblems(raw, settings), ...crossCheck(settings)];
    if (problems.length > 0) throw new ConfigError(problems);
    return settings;
}

/** The AWS provider's region must come from somewhere: stack config or the environment. */
export function checkRegion(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
    if (configured || env.AWS_REGION || env.AWS_DEFAULT_REGION) return [];
    return ["aws:region: not set; choose the region to build in with `pulumi config set aws:region <region>` (or set AWS_REGION)"];
}

export const awsPlatform: Platform<AwsSettings> = {
    schema: awsSettingsSchema,
    validate: (raw) => awsSettings(raw, checkRegion(new pulumi.Config("aws").get("region"))),
    build: buildAws,
};

/**
 * An existing VPC's subnets as AWS describes them, checked where only AWS can tell: in two availability zones, and
 * with an IPv6 block when the cluster is IPv6. Looked up when the program runs (a preview too), and the cluster waits
 * for the check, so a wrong subnet stops it before the cluster is created, naming the subnet.
 */
function checkedSubnets(c: AwsSettings["clusters"][number], i: number, vpcId: string): pulumi.Output<string>[] {
    const ids = c.subnetIds!;
    const checked = pulumi.all(ids.map((id) => getSubnetOutput({ id }))).apply((subnets) => {
        const problems = subnetProblems(c, i, vpcId, subnets);
        if (problems.length > 0) throw new ConfigError(problems);
        return subnets.map((s) => s.id);
    });
    return ids.map((_, k) => checked.apply((checkedIds) => checkedIds[k]));
}

/** What is wrong with a cluster's existing subnets, as AWS describes them (getSubnet). */
export function subnetProblems(
    c: { name: string; ipFamily: string; subnetIds?: string[] },
    i: number,
    vpcId: string,
    subnets: { id: string; vpcId: string; availabilityZone: string; ipv6CidrBlock: string }[],
): string[] {
    const problems: string[] = [];
    subnets.forEach((s, k) => {
        if (s.vpcId !== vpcId) problems.push(`${formatPath(["clusters", i, "subnetIds", k])}: ${s.id} is in ${s.vpcId}, not in aws.vpcId ${vpcId}`);
        if (c.ipFamily === "ipv6" && !s.ipv6CidrBlock) {
            problems.push(`${formatPath(["clusters", i, "subnetIds", k])}: ${s.id} has no IPv6 block, and ${c.name} is an IPv6 cluster (ipFamily: ipv6); give it subnets with IPv6 blocks`);
        }
    });
    const zones = new Set(subnets.map((s) => s.availabilityZone));
    if (zones.size < 2) problems.push(`${formatPath(["clusters", i, "subnetIds"])}: ${subnets.map((s) => s.id).join(", ")} are all in ${[...zones].join(", ")}; EKS needs subnets in at least two availability zones`);
    return problems;
}

function buildAws(settings: AwsSettings): PlatformClusters {
    const tags = { "istio-multicluster:mesh": settings.meshId, ...settings.aws.tags };
    const partition = getPartitionOutput().partition;
    const region = getRegionOutput().region;

    const network = new AwsNetwork("aws", {
        ...(settings.aws.vpcId ? { vpcId: settings.aws.vpcId } : {}),
        vpcCidr: settings.aws.vpcCidr,
        availabilityZoneCount: settings.aws.availabilityZoneCount,
        natGateways: settings.aws.natGateways,
        clusterNames: settings.clusters.map((c) => c.name),
        tags,
    });

    const scheme = settings.eastWestLoadBalancer === "public" ? "internet-facing" : "internal";
    const eksClusters = settings.clusters.map(
        (c) =>
            new EksCluster(`eks-${c.name}`, {
                clusterName: c.name,
                network: c.network,
                ipFamily: c.ipFamily,
                kubernetesVersion: c.kubernetesVersion,
                vpcId: network.vpcId,
                publicSubnetIds: network.publicSubnetIds,
                privateSubnetIds: c.subnetIds ? checkedSubnets(c, settings.clusters.indexOf(c), settings.aws.vpcId!) : network.privateSubnetIds,
                controlPlaneSecurityGroup: network.controlPlaneSecurityGroups[c.name],
                nodeSecurityGroup: network.nodeSecurityGroups[c.name],
                publicAccessCidrs: c.publicAccessCidrs,
                instanceTypes: c.instanceTypes,
                amiType: c.amiType,
                minNodes: c.minNodes,
                desiredNodes: c.desiredNodes,
                maxNodes: c.maxNodes,
                loadBalancerControllerChartVersion: settings.aws.loadBalancerControllerChartVersion,
                gatewayLoadBalancerScheme: scheme,
                region,
                partition,
                networkDependencies: network.egressReady,
                accessEntries: c.accessEntries,
                tags,
            }),
    );

    return {
        clusters: eksClusters,
        // Kubeconfigs (secret) and API server URLs per cluster are already stack outputs of every platform;
        // kept out of here so that this object is not secret as a whole.
        platformOutputs: {
            vpcId: network.vpcId,
            region,
            eksClusterNames: pulumi.output(eksClusters.map((e) => e.eks.eksCluster.apply((c) => c.name))),
            apiEndpoints: pulumi.output(Object.fromEntries(eksClusters.map((e) => [e.clusterName, e.endpoint]))),
        },
        // Bookinfo's ingress: an internet-facing NLB from the controller, dual-stack in an IPv6 cluster (as the
        // east-west gateways, which get the same annotations with the internal scheme).
        ingressServiceAnnotations: Object.fromEntries(settings.clusters.map((c) => [c.name, gatewayServiceAnnotations(c.ipFamily, "internet-facing")])),
    };
}
