import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as iam from "@pulumi/aws/iam";
import * as eks from "@pulumi/aws/eks";
import { waitFor } from "../common/dependencies";
import { requireDeployed } from "../common/helmReleaseStatus";

/**
 * The AWS Load Balancer Controller in one EKS cluster, so that LoadBalancer Services (Istio gateways) get
 * NLBs: an IAM role for its service account through EKS Pod Identity, the permissions it needs, and its Helm
 * chart installed with `helm.v3.Release` (the chart regenerates its webhook certificate on every render, so a
 * rendered-manifest install would churn).
 *
 * Delete order matters: Services of type LoadBalancer must be deleted while the controller still runs, or
 * their NLBs stay behind (and then the VPC cannot be deleted). Make every such Service depend on `release`;
 * the release itself depends on the role, its permissions and the Pod Identity association, so it goes
 * first when the stack is destroyed.
 */
export interface AwsLoadBalancerControllerArgs {
    /** Physical EKS cluster name (the controller tags and finds its load balancers by it). */
    clusterName: pulumi.Input<string>;
    vpcId: pulumi.Input<string>;
    region: pulumi.Input<string>;
    /** AWS partition ("aws", "aws-cn", "aws-us-gov") for ARNs. */
    partition: pulumi.Input<string>;
    /** Version of the `aws-load-balancer-controller` chart from https://aws.github.io/eks-charts. */
    chartVersion: string;
    /** Provider of the cluster the controller goes into. */
    provider: k8s.Provider;
    /** What must be ready first (nodes to run on, the Pod Identity agent add-on), as outputs (`urn`s). */
    readyDependencies?: pulumi.Input<pulumi.Input<string>[]>;
    tags?: Record<string, string>;
}

export const LBC_NAMESPACE = "kube-system";
export const LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller";
export const LBC_CHART_REPO = "https://aws.github.io/eks-charts";
/** The tag the controller puts on everything it creates, and the only thing it may change or delete. */
const CLUSTER_TAG = "elbv2.k8s.aws/cluster";

/**
 * What the controller calls for NLBs and ALBs, least privilege where the API allows it: it may create load
 * balancers, target groups and security groups only when tagging them with `elbv2.k8s.aws/cluster`, and
 * change or delete only resources that carry that tag. WAF, Shield and Cognito integrations are switched off
 * in the chart values, so their permissions are left out.
 */
export function loadBalancerControllerPolicy(partition: string): Record<string, unknown> {
    const elb = (resource: string) => `arn:${partition}:elasticloadbalancing:*:*:${resource}`;
    const taggedByController = { Null: { [`aws:ResourceTag/${CLUSTER_TAG}`]: "false" } };
    const taggingOnCreate = { Null: { [`aws:RequestTag/${CLUSTER_TAG}`]: "false" } };
    const elbResources = [elb("targetgroup/*/*"), elb("loadbalancer/net/*/*"), elb("loadbalancer/app/*/*")];
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ServiceLinkedRole",
                Effect: "Allow",
                Action: "iam:CreateServiceLinkedRole",
                Resource: "*",
                Condition: { StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" } },
            },
            {
                Sid: "Discover",
                Effect: "Allow",
                Action: [
                    "ec2:DescribeAccountAttributes",
                    "ec2:DescribeAddresses",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInternetGateways",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeVpcPeeringConnections",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeInstances",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeTags",
                    "ec2:DescribeRouteTables",
                    "ec2:DescribeIpamPools",
                    "ec2:GetSecurityGroupsForVpc",
                    "ec2:GetCoipPoolUsage",
                    "ec2:DescribeCoipPools",
                    "elasticloadbalancing:Describe*",
                    "acm:ListCertificates",
                    "acm:DescribeCertificate",
                    "iam:ListServerCertificates",
                    "iam:GetServerCertificate",
                ],
                Resource: "*",
            },
            {
                Sid: "CreateSecurityGroups",
                Effect: "Allow",
                Action: "ec2:CreateSecurityGroup",
                Resource: "*",
            },
            {
                Sid: "TagNewSecurityGroups",
                Effect: "Allow",
                Action: "ec2:CreateTags",
                Resource: `arn:${partition}:ec2:*:*:security-group/*`,
                Condition: { StringEquals: { "ec2:CreateAction": "CreateSecurityGroup" }, ...taggingOnCreate },
            },
            {
                Sid: "RetagOwnSecurityGroups",
                Effect: "Allow",
                Action: ["ec2:CreateTags", "ec2:DeleteTags"],
                Resource: `arn:${partition}:ec2:*:*:security-group/*`,
                Condition: { Null: { [`aws:RequestTag/${CLUSTER_TAG}`]: "true", [`aws:ResourceTag/${CLUSTER_TAG}`]: "false" } },
            },
            {
                // Rules for load-balancer traffic go onto the node security group EKS made (not created by the
                // controller, so it cannot be tag-restricted); deleting groups is restricted to its own.
                Sid: "SecurityGroupRules",
                Effect: "Allow",
                Action: ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                Resource: "*",
            },
            {
                Sid: "DeleteOwnSecurityGroups",
                Effect: "Allow",
                Action: "ec2:DeleteSecurityGroup",
                Resource: "*",
                Condition: taggedByController,
            },
            {
                Sid: "CreateLoadBalancers",
                Effect: "Allow",
                Action: ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
                Resource: "*",
                Condition: taggingOnCreate,
            },
            {
                Sid: "Listeners",
                Effect: "Allow",
                Action: [
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:CreateRule",
                    "elasticloadbalancing:DeleteRule",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:AddListenerCertificates",
                    "elasticloadbalancing:RemoveListenerCertificates",
                    "elasticloadbalancing:ModifyRule",
                    "elasticloadbalancing:SetRulePriorities",
                ],
                Resource: "*",
            },
            {
                Sid: "TagOnCreate",
                Effect: "Allow",
                Action: "elasticloadbalancing:AddTags",
                Resource: elbResources,
                Condition: {
                    StringEquals: { "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"] },
                    ...taggingOnCreate,
                },
            },
            {
                Sid: "RetagOwnLoadBalancers",
                Effect: "Allow",
                Action: ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                Resource: elbResources,
                Condition: { Null: { [`aws:RequestTag/${CLUSTER_TAG}`]: "true", [`aws:ResourceTag/${CLUSTER_TAG}`]: "false" } },
            },
            {
                Sid: "TagListeners",
                Effect: "Allow",
                Action: ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                Resource: [
                    elb("listener/net/*/*/*"),
                    elb("listener/app/*/*/*"),
                    elb("listener-rule/net/*/*/*"),
                    elb("listener-rule/app/*/*/*"),
                ],
            },
            {
                Sid: "ManageOwnLoadBalancers",
                Effect: "Allow",
                Action: [
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetIpAddressType",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:ModifyListenerAttributes",
                    "elasticloadbalancing:ModifyCapacityReservation",
                    "elasticloadbalancing:ModifyIpPools",
                ],
                Resource: "*",
                Condition: taggedByController,
            },
            {
                Sid: "Targets",
                Effect: "Allow",
                Action: ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                Resource: elb("targetgroup/*/*"),
            },
        ],
    };
}

/** Chart values: the cluster it serves, and no lookups through instance metadata. */
export function loadBalancerControllerValues(args: { clusterName: string; region: string; vpcId: string }): Record<string, unknown> {
    return {
        clusterName: args.clusterName,
        region: args.region,
        vpcId: args.vpcId,
        serviceAccount: { create: true, name: LBC_SERVICE_ACCOUNT },
        enableShield: false,
        enableWaf: false,
        enableWafv2: false,
        // Istio is installed beside the controller, not after it: a Service webhook that fails closed would
        // reject Services created while the controller starts. Gateway Services name the controller
        // explicitly (`aws-load-balancer-type: external`), so the mutator is not needed.
        enableServiceMutatorWebhook: false,
    };
}

export class AwsLoadBalancerController extends pulumi.ComponentResource {
    public readonly role: iam.Role;
    public readonly policy: iam.Policy;
    public readonly podIdentity: eks.PodIdentityAssociation;
    /** The controller; every LoadBalancer Service in the cluster must depend on it (Cluster.loadBalancerDependencies). */
    public readonly release: k8s.helm.v3.Release;

    constructor(name: string, args: AwsLoadBalancerControllerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:AwsLoadBalancerController", name, {}, opts);

        this.role = new iam.Role(
            `${name}-role`,
            {
                description: pulumi.interpolate`AWS Load Balancer Controller of EKS cluster ${args.clusterName}`,
                // EKS Pod Identity: the agent on each node assumes the role for pods of the associated account.
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { Service: "pods.eks.amazonaws.com" }, Action: ["sts:AssumeRole", "sts:TagSession"] }],
                }),
                tags: args.tags,
            },
            { parent: this },
        );
        this.policy = new iam.Policy(
            `${name}-policy`,
            {
                description: pulumi.interpolate`AWS Load Balancer Controller of EKS cluster ${args.clusterName}`,
                policy: pulumi.output(args.partition).apply((p) => JSON.stringify(loadBalancerControllerPolicy(p))),
                tags: args.tags,
            },
            { parent: this },
        );
        const attachment = new iam.RolePolicyAttachment(`${name}-policy`, { role: this.role.name, policyArn: this.policy.arn }, { parent: this });

        this.podIdentity = new eks.PodIdentityAssociation(
            `${name}-pod-identity`,
            { clusterName: args.clusterName, namespace: LBC_NAMESPACE, serviceAccount: LBC_SERVICE_ACCOUNT, roleArn: this.role.arn, tags: args.tags },
            { parent: this, dependsOn: waitFor(args.readyDependencies) },
        );

        this.release = new k8s.helm.v3.Release(
            `${name}-release`,
            {
                name: "aws-load-balancer-controller",
                chart: "aws-load-balancer-controller",
                version: args.chartVersion,
                repositoryOpts: { repo: LBC_CHART_REPO },
                namespace: LBC_NAMESPACE,
                values: pulumi
                    .all([args.clusterName, args.region, args.vpcId])
                    .apply(([clusterName, region, vpcId]) => loadBalancerControllerValues({ clusterName, region, vpcId })),
                // Its webhooks must answer before Services are created through them.
                waitForJobs: true,
            },
            {
                parent: this,
                provider: args.provider,
                // The credentials (association, role, permissions) must outlive the controller on destroy.
                dependsOn: waitFor(args.readyDependencies, this.podIdentity, attachment),
            },
        );
        requireDeployed(this.release, args.clusterName);

        this.registerOutputs({ roleArn: this.role.arn });
    }
}
