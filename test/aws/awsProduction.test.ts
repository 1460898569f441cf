/**
 * The aws stack with what a platform team brings: a VPC that already exists (`aws.vpcId`, `clusters[].subnetIds`) and
 * the IAM principals that may use the clusters (`clusters[].accessEntries`).
 */
import { Declared, RunResult, ofType, one, plain, runProgram, runProgramExpectingError } from "../support/harness";
import { loadStackConfig } from "../support/stackConfig";
import { REGION, awsMocks } from "../support/cloudMocks";
import { subnetProblems } from "../../stacks/aws";
import { accessEntryKey } from "../../components/aws/eksCluster";

const VPC = "vpc-0a1b2c3d4e5f60718";
const SUBNETS: Record<string, string[]> = { "cluster-1": ["subnet-0000000000000aaa1", "subnet-0000000000000aaa2"], "cluster-2": ["subnet-0000000000000bbb1", "subnet-0000000000000bbb2"] };
const CI_ROLE = "arn:aws:iam::123456789012:role/ci-deployer";
const ADMIN_ROLE = "arn:aws:iam::123456789012:role/platform-admins";
const READER = "arn:aws:iam::123456789012:user/alice";

function stack(change: (c: Record<string, any>) => Record<string, any>, aws: Record<string, unknown> = { loadBalancerControllerChartVersion: "1.17.1" }) {
    const config = loadStackConfig("aws", { "aws:region": REGION });
    const clusters = (JSON.parse(config["istio-multicluster:clusters"] as string) as Record<string, any>[]).map((c) => change({ ...c }));
    return { ...config, "istio-multicluster:clusters": JSON.stringify(clusters), "istio-multicluster:aws": JSON.stringify(aws) };
}

/** getSubnet answers as AWS would: the subnets are in VPC, in two zones, with IPv6 blocks. */
const subnetLookups: string[] = [];
const mocks = () => {
    const base = awsMocks();
    return {
        ...base,
        calls: {
            ...base.calls,
            "aws:ec2/getSubnet:getSubnet": (inputs: { id: string }) => {
                subnetLookups.push(inputs.id);
                return { id: inputs.id, vpcId: VPC, availabilityZone: inputs.id.endsWith("1") ? "us-west-2a" : "us-west-2b", ipv6CidrBlock: "2600:1f14:abc:de01::/64", cidrBlock: "10.9.0.0/20" };
            },
        },
    };
};
const named = (rs: Declared[], type: string, name: string) => one(rs, (r) => r.type === type && r.name === name, `${type} ${name}`);

describe("aws.vpcId with clusters[].subnetIds: the VPC is yours", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(stack((c) => ({ ...c, subnetIds: SUBNETS[c.name] }), { vpcId: VPC }), mocks());
    });

    test("no VPC, subnets, gateways, NAT or routes are made", () => {
        for (const type of ["aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway", "aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip", "aws:ec2/routeTable:RouteTable", "aws:ec2/route:Route", "aws:ec2/routeTableAssociation:RouteTableAssociation"]) {
            expect({ type, declared: ofType(run.resources, type).length }).toEqual({ type, declared: 0 });
        }
    });

    test("the cross-cluster security groups and rules are still made, in that VPC", () => {
        const groups = ofType(run.resources, "aws:ec2/securityGroup:SecurityGroup");
        expect(groups).toHaveLength(4);
        for (const g of groups) expect(g.inputs.vpcId).toBe(VPC);
        const rules = [...ofType(run.resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"), ...ofType(run.resources, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")];
        // Per cluster: nodes from the other's nodes, API from the other's nodes, 2 × (15012/15017 in and out), egress IPv4 and IPv6.
        expect(rules).toHaveLength(2 * (2 + 4 + 2));
    });

    test("each cluster's control plane and nodes go on its own subnets, once AWS has described them", () => {
        for (const c of ["cluster-1", "cluster-2"]) {
            const eks = plain(named(run.resources, "eks:index:Cluster", `eks-${c}-eks`).inputs);
            expect({ c, vpcId: eks.vpcId, privateSubnetIds: eks.privateSubnetIds, publicSubnetIds: eks.publicSubnetIds }).toEqual({ c, vpcId: VPC, privateSubnetIds: SUBNETS[c], publicSubnetIds: undefined });
            expect(plain(named(run.resources, "aws:eks/nodeGroup:NodeGroup", `eks-${c}-nodes`).inputs).subnetIds).toEqual(SUBNETS[c]);
        }
        expect([...subnetLookups].sort()).toEqual([...SUBNETS["cluster-1"], ...SUBNETS["cluster-2"]].sort());
    });

    test("where only AWS can tell: an IPv6 cluster's subnet without an IPv6 block, one zone, another VPC — each named", () => {
        const subnet = (id: string, zone: string, ipv6 = "", vpcId = VPC) => ({ id, vpcId, availabilityZone: zone, ipv6CidrBlock: ipv6 });
        expect(subnetProblems({ name: "cluster-2", ipFamily: "ipv6" }, 1, VPC, [subnet("subnet-a", "us-west-2a", "2600::/64"), subnet("subnet-b", "us-west-2a", "", "vpc-other")])).toEqual([
            "istio-multicluster:clusters[1].subnetIds[1]: subnet-b is in vpc-other, not in aws.vpcId vpc-0a1b2c3d4e5f60718",
            "istio-multicluster:clusters[1].subnetIds[1]: subnet-b has no IPv6 block, and cluster-2 is an IPv6 cluster (ipFamily: ipv6); give it subnets with IPv6 blocks",
            "istio-multicluster:clusters[1].subnetIds: subnet-a, subnet-b are all in us-west-2a; EKS needs subnets in at least two availability zones",
        ]);
        expect(subnetProblems({ name: "cluster-1", ipFamily: "ipv4" }, 0, VPC, [subnet("subnet-a", "us-west-2a"), subnet("subnet-b", "us-west-2b")])).toEqual([]);
    });

    test("what the settings say is checked before anything is declared, all at once", async () => {
        const { error, resources } = await runProgramExpectingError(
            stack((c) => (c.name === "cluster-1" ? { ...c, subnetIds: ["subnet-0000000000000aaa1"] } : c), { vpcId: VPC, vpcCidr: "10.0.0.0/16", natGateways: "single" }),
            mocks(),
        );
        expect(resources.filter((r) => r.custom)).toEqual([]);
        expect(error.message).toContain("istio-multicluster:clusters[0].subnetIds: must list at least two subnets, in two availability zones");
        const second = await runProgramExpectingError(stack((c) => c, { vpcId: VPC, vpcCidr: "10.0.0.0/16", natGateways: "single" }), mocks());
        expect(second.error.message).toContain("istio-multicluster:aws.vpcCidr: not used with aws.vpcId");
        expect(second.error.message).toContain("istio-multicluster:aws.natGateways: not used with aws.vpcId");
        expect(second.error.message).toContain("istio-multicluster:clusters[0].subnetIds: required with aws.vpcId");
        expect(second.error.message).toContain("istio-multicluster:clusters[1].subnetIds: required with aws.vpcId");
        const third = await runProgramExpectingError(stack((c) => ({ ...c, subnetIds: ["subnet-x", "subnet-0000000000000aaa2"] }), { vpcId: "vpc-nope" }), mocks());
        expect(third.error.message).toContain("istio-multicluster:aws.vpcId: must be a VPC ID such as vpc-0123456789abcdef0");
        expect(third.error.message).toContain("istio-multicluster:clusters[0].subnetIds[0]: must be a subnet ID such as subnet-0123456789abcdef0");
        const fourth = await runProgramExpectingError(stack((c) => ({ ...c, subnetIds: SUBNETS[c.name] })), mocks());
        expect(fourth.error.message).toContain("istio-multicluster:clusters[0].subnetIds: only used with aws.vpcId");
    });
});

describe("clusters[].accessEntries: who may use the clusters", () => {
    test("the CI role and an admin role become EKS access entries with AWS's access policies; a reader is scoped to namespaces", async () => {
        const entries = [
            { principalArn: CI_ROLE, access: "cluster-admin" },
            { principalArn: ADMIN_ROLE, access: "admin" },
            { principalArn: READER, access: "view", namespaces: ["sample", "bookinfo"] },
        ];
        const run = await runProgram(stack((c) => ({ ...c, accessEntries: entries })), mocks());
        for (const c of ["cluster-1", "cluster-2"]) {
            expect(plain(named(run.resources, "eks:index:Cluster", `eks-${c}-eks`).inputs).accessEntries).toEqual({
                "role-ci-deployer": {
                    principalArn: CI_ROLE,
                    accessPolicies: { "cluster-admin": { policyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", accessScope: { type: "cluster" } } },
                },
                "role-platform-admins": {
                    principalArn: ADMIN_ROLE,
                    accessPolicies: { admin: { policyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy", accessScope: { type: "cluster" } } },
                },
                "user-alice": {
                    principalArn: READER,
                    accessPolicies: { view: { policyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", accessScope: { type: "namespace", namespaces: ["sample", "bookinfo"] } } },
                },
            });
        }
        expect(accessEntryKey("arn:aws:iam::123456789012:role/ops/ci-deployer")).toBe("role-ops-ci-deployer");
    });

    test("without entries nothing changes: no accessEntries reach @pulumi/eks", async () => {
        const run = await runProgram(stack((c) => c), mocks());
        expect(plain(named(run.resources, "eks:index:Cluster", "eks-cluster-1-eks").inputs).accessEntries).toBeUndefined();
    });

    test("bad entries are refused before anything is declared, each named", async () => {
        const { error, resources } = await runProgramExpectingError(
            stack((c) =>
                c.name === "cluster-1"
                    ? { ...c, accessEntries: [{ principalArn: "ci-deployer", access: "admin" }, { principalArn: CI_ROLE, access: "cluster-admin", namespaces: ["x"] }, { principalArn: CI_ROLE, access: "view" }, { principalArn: READER, access: "owner" }] }
                    : c,
            ),
            mocks(),
        );
        expect(resources.filter((r) => r.custom)).toEqual([]);
        expect(error.message).toContain("istio-multicluster:clusters[0].accessEntries[3].access: must be one of cluster-admin, admin, edit, view");
        const valid = await runProgramExpectingError(
            stack((c) => (c.name === "cluster-1" ? { ...c, accessEntries: [{ principalArn: "ci-deployer", access: "admin" }, { principalArn: CI_ROLE, access: "cluster-admin", namespaces: ["x"] }, { principalArn: CI_ROLE, access: "view" }] } : c)),
            mocks(),
        );
        expect(valid.error.message).toContain('istio-multicluster:clusters[0].accessEntries[0].principalArn: must be an IAM role or user ARN such as arn:aws:iam::123456789012:role/ci-deployer, got "ci-deployer"');
        expect(valid.error.message).toContain("istio-multicluster:clusters[0].accessEntries[1].namespaces: cannot narrow cluster-admin, which is cluster-wide");
        expect(valid.error.message).toContain("istio-multicluster:clusters[0].accessEntries[2].principalArn: arn:aws:iam::123456789012:role/ci-deployer is listed twice");
    });
});
