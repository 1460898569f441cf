/** Mock answers for the AWS stack: the invokes it makes and the outputs of resources whose outputs it reads. */
import { MockOptions } from "./mocks";

export const REGION = "us-west-2";
export const ACCOUNT = "123456789012";
export const VPC_IPV6 = "2600:1f14:abc:de00::/56";
export const ZONES = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"];

export const endpointOf = (clusterName: string) => `https://${Buffer.from(clusterName).toString("hex").toUpperCase()}.gr7.${REGION}.eks.amazonaws.com`;

/** What `@pulumi/eks` writes: an `aws eks get-token` exec kubeconfig. */
export function eksKubeconfig(clusterName: string): Record<string, unknown> {
    return {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "kubernetes", cluster: { server: endpointOf(clusterName), "certificate-authority-data": Buffer.from(`eks ca of ${clusterName}`).toString("base64") } }],
        contexts: [{ name: "aws", context: { cluster: "kubernetes", user: "aws" } }],
        "current-context": "aws",
        users: [
            {
                name: "aws",
                user: {
                    exec: {
                        apiVersion: "client.authentication.k8s.io/v1beta1",
                        command: "aws",
                        args: ["--region", REGION, "eks", "get-token", "--cluster-name", clusterName, "--output", "json"],
                    },
                },
            },
        ],
    };
}

export function awsMockOptions(zones: string[] = ZONES): MockOptions {
    return {
        calls: {
            "aws:index/getPartition:getPartition": () => ({ id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" }),
            "aws:index/getRegion:getRegion": () => ({ id: REGION, name: REGION, region: REGION, endpoint: `ec2.${REGION}.amazonaws.com`, description: "US West (Oregon)" }),
            "aws:index/getAvailabilityZones:getAvailabilityZones": () => ({
                id: REGION,
                region: REGION,
                names: zones,
                zoneIds: zones.map((_, i) => `usw2-az${i + 1}`),
                groupNames: zones.map(() => REGION),
            }),
        },
        outputs: {
            "eks:index:Cluster": (inputs) => ({
                eksCluster: {
                    name: inputs.name,
                    arn: `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/${inputs.name}`,
                    endpoint: endpointOf(inputs.name),
                    createdAt: "2026-11-21T08:00:00Z",
                    vpcConfig: { clusterSecurityGroupId: `sg-eks-${inputs.name}` },
                },
                kubeconfigJson: JSON.stringify(eksKubeconfig(inputs.name)),
                kubeconfig: eksKubeconfig(inputs.name),
            }),
            "aws:ec2/vpc:Vpc": () => ({ ipv6CidrBlock: VPC_IPV6, arn: `arn:aws:ec2:${REGION}:${ACCOUNT}:vpc/vpc-mock` }),
            "aws:ec2/launchTemplate:LaunchTemplate": () => ({ latestVersion: 1 }),
            "aws:iam/role:Role": (_inputs, name) => ({ arn: `arn:aws:iam::${ACCOUNT}:role/${name}`, name }),
            "aws:iam/policy:Policy": (_inputs, name) => ({ arn: `arn:aws:iam::${ACCOUNT}:policy/${name}` }),
        },
    };
}
