/**
 * The whole `aws` stack from the committed Pulumi.aws.yaml, under mocks: network, security groups, EKS
 * clusters, node roles, VPC CNI add-on configuration, Load Balancer Controllers, the mesh on top, and the
 * dependency graph that decides the order of `pulumi destroy`.
 */
import { parse as parseYaml } from "yaml";
import { Declared, RunResult, dependsOn, isSecret, one, ofType, plain, providerUrn, runProgram } from "../support/harness";
import { loadStackConfig } from "../support/stackConfig";
import { policyViolations } from "../support/policyRun";
import { ACCOUNT, REGION, ZONES, awsMocks, endpointOf } from "../support/cloudMocks";

// ---- mocks ------------------------------------------------------------------------------------------

const runAws = (overrides: Record<string, unknown> = {}) => runProgram(loadStackConfig("aws", { "aws:region": REGION, ...overrides }), awsMocks());

/** The committed cluster list, changed per cluster. */
function clustersWith(change: (c: Record<string, any>, i: number) => Record<string, any>): string {
    const clusters = JSON.parse(loadStackConfig("aws")["istio-multicluster:clusters"] as string) as Record<string, any>[];
    return JSON.stringify(clusters.map((c, i) => change({ ...c }, i)));
}

// ---- helpers ----------------------------------------------------------------------------------------

const CLUSTERS = ["cluster-1", "cluster-2"] as const;
const named = (resources: Declared[], type: string, name: string) => one(resources, (r) => r.type === type && r.name === name, `${type} ${name}`);
const eksOf = (rs: Declared[], c: string) => named(rs, "eks:index:Cluster", `eks-${c}-eks`);
const providerOf = (rs: Declared[], c: string) => named(rs, "pulumi:providers:kubernetes", `${c}-k8s`);
const lbcReleaseOf = (rs: Declared[], c: string) => named(rs, "kubernetes:helm.sh/v3:Release", `eks-${c}-lbc-release`);
/** Mock ids are `<name>-id`: map an id back to the security group it names. */
const sgName = (id: string) => id.replace(/-id$/, "");

let run: RunResult;
beforeAll(async () => {
    run = await runAws();
});

describe("network", () => {
    test("one dual-stack VPC from the configured CIDR, with an Amazon-provided IPv6 block", () => {
        const [vpc] = ofType(run.resources, "aws:ec2/vpc:Vpc");
        expect(ofType(run.resources, "aws:ec2/vpc:Vpc")).toHaveLength(1);
        expect(vpc.inputs).toMatchObject({ cidrBlock: "10.0.0.0/16", assignGeneratedIpv6CidrBlock: true, enableDnsSupport: true, enableDnsHostnames: true });
    });

    test("public and private subnets in three zones, each with its own IPv6 /64 and the load balancer tags", () => {
        const subnets = ofType(run.resources, "aws:ec2/subnet:Subnet").map((s) => s.inputs);
        const pub = subnets.filter((s) => s.tags["kubernetes.io/role/elb"] === "1");
        const priv = subnets.filter((s) => s.tags["kubernetes.io/role/internal-elb"] === "1");
        expect(pub).toHaveLength(3);
        expect(priv).toHaveLength(3);
        expect(new Set(pub.map((s) => s.availabilityZone))).toEqual(new Set(ZONES.slice(0, 3)));
        expect(new Set(priv.map((s) => s.availabilityZone))).toEqual(new Set(ZONES.slice(0, 3)));
        expect(priv.map((s) => s.cidrBlock).sort()).toEqual(["10.0.0.0/18", "10.0.128.0/18", "10.0.64.0/18"]);
        expect(pub.map((s) => s.cidrBlock).sort()).toEqual(["10.0.192.0/20", "10.0.208.0/20", "10.0.224.0/20"]);
        const v6 = subnets.map((s) => s.ipv6CidrBlock);
        expect(new Set(v6).size).toBe(6);
        for (const block of v6) expect(block).toMatch(/^2600:1f14:abc:de0[0-5]::\/64$/);
        for (const s of subnets) expect(s.assignIpv6AddressOnCreation).toBe(true);
    });

    test("internet gateway, NAT for IPv4 and an egress-only gateway for IPv6 from private subnets", () => {
        const rs = run.resources;
        expect(ofType(rs, "aws:ec2/internetGateway:InternetGateway")).toHaveLength(1);
        expect(ofType(rs, "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway")).toHaveLength(1);
        const [nat] = ofType(rs, "aws:ec2/natGateway:NatGateway");
        expect(ofType(rs, "aws:ec2/natGateway:NatGateway")).toHaveLength(1); // natGateways: single
        const natSubnet = named(rs, "aws:ec2/subnet:Subnet", sgName(nat.inputs.subnetId));
        expect(natSubnet.inputs.tags["kubernetes.io/role/elb"]).toBe("1");

        const routes = ofType(rs, "aws:ec2/route:Route").map((r): Record<string, any> => ({ name: r.name, ...r.inputs }));
        const privateRoutes = routes.filter((r) => r.name.startsWith("aws-private-"));
        expect(privateRoutes.filter((r) => r.destinationCidrBlock === "0.0.0.0/0").every((r) => r.natGatewayId === `${nat.name}-id`)).toBe(true);
        expect(privateRoutes.filter((r) => r.destinationIpv6CidrBlock === "::/0").every((r) => r.egressOnlyGatewayId === "aws-eigw-id")).toBe(true);
        expect(privateRoutes).toHaveLength(6);
        const publicRoutes = routes.filter((r) => r.name.startsWith("aws-public-"));
        expect(publicRoutes.map((r) => [r.destinationCidrBlock ?? r.destinationIpv6CidrBlock, r.gatewayId]).sort()).toEqual([
            ["0.0.0.0/0", "aws-igw-id"],
            ["::/0", "aws-igw-id"],
        ]);
        expect(ofType(rs, "aws:ec2/routeTableAssociation:RouteTableAssociation")).toHaveLength(6);
    });

    test("one NAT gateway per zone when asked", async () => {
        const perZone = await runAws({ "istio-multicluster:aws": JSON.stringify({ natGateways: "perZone" }) });
        expect(ofType(perZone.resources, "aws:ec2/natGateway:NatGateway")).toHaveLength(3);
    });
});

describe("security groups", () => {
    const ingress = () =>
        ofType(run.resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => ({
            to: sgName(r.inputs.securityGroupId),
            from: r.inputs.referencedSecurityGroupId ? sgName(r.inputs.referencedSecurityGroupId) : undefined,
            cidr: r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6 ?? r.inputs.prefixListId,
            protocol: r.inputs.ipProtocol,
            ports: r.inputs.fromPort === undefined ? "all" : `${r.inputs.fromPort}-${r.inputs.toPort}`,
        }));
    const egress = () =>
        ofType(run.resources, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule").map((r) => ({
            from: sgName(r.inputs.securityGroupId),
            to: r.inputs.referencedSecurityGroupId ? sgName(r.inputs.referencedSecurityGroupId) : r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6,
            protocol: r.inputs.ipProtocol,
            ports: r.inputs.fromPort === undefined ? "all" : `${r.inputs.fromPort}-${r.inputs.toPort}`,
        }));
    const sort = <T>(xs: T[]) => xs.map((x) => JSON.stringify(x)).sort();

    test("ingress is exactly: nodes ↔ other cluster's nodes, other cluster's nodes → API 443, own control plane → nodes 15012/15017", () => {
        expect(sort(ingress())).toEqual(
            sort([
                { to: "aws-cluster-1-nodes", from: "aws-cluster-2-nodes", protocol: "-1", ports: "all" },
                { to: "aws-cluster-2-nodes", from: "aws-cluster-1-nodes", protocol: "-1", ports: "all" },
                { to: "aws-cluster-1-control-plane", from: "aws-cluster-2-nodes", protocol: "tcp", ports: "443-443" },
                { to: "aws-cluster-2-control-plane", from: "aws-cluster-1-nodes", protocol: "tcp", ports: "443-443" },
                { to: "aws-cluster-1-nodes", from: "aws-cluster-1-control-plane", protocol: "tcp", ports: "15012-15012" },
                { to: "aws-cluster-1-nodes", from: "aws-cluster-1-control-plane", protocol: "tcp", ports: "15017-15017" },
                { to: "aws-cluster-2-nodes", from: "aws-cluster-2-control-plane", protocol: "tcp", ports: "15012-15012" },
                { to: "aws-cluster-2-nodes", from: "aws-cluster-2-control-plane", protocol: "tcp", ports: "15017-15017" },
            ]),
        );
    });

    test("nothing wider: no ingress from an address range, no inline rules", () => {
        for (const rule of ingress()) expect(rule.cidr).toBeUndefined();
        for (const sg of ofType(run.resources, "aws:ec2/securityGroup:SecurityGroup")) {
            expect(sg.inputs.ingress).toBeUndefined();
            expect(sg.inputs.egress).toBeUndefined();
        }
        expect(ofType(run.resources, "aws:ec2/securityGroupRule:SecurityGroupRule")).toHaveLength(0);
    });

    test("nodes may leave over IPv4 and IPv6; control planes reach their nodes on 15012/15017", () => {
        expect(sort(egress())).toEqual(
            sort([
                { from: "aws-cluster-1-nodes", to: "0.0.0.0/0", protocol: "-1", ports: "all" },
                { from: "aws-cluster-1-nodes", to: "::/0", protocol: "-1", ports: "all" },
                { from: "aws-cluster-2-nodes", to: "0.0.0.0/0", protocol: "-1", ports: "all" },
                { from: "aws-cluster-2-nodes", to: "::/0", protocol: "-1", ports: "all" },
                { from: "aws-cluster-1-control-plane", to: "aws-cluster-1-nodes", protocol: "tcp", ports: "15012-15012" },
                { from: "aws-cluster-1-control-plane", to: "aws-cluster-1-nodes", protocol: "tcp", ports: "15017-15017" },
                { from: "aws-cluster-2-control-plane", to: "aws-cluster-2-nodes", protocol: "tcp", ports: "15012-15012" },
                { from: "aws-cluster-2-control-plane", to: "aws-cluster-2-nodes", protocol: "tcp", ports: "15017-15017" },
            ]),
        );
    });

    test.each(CLUSTERS)("%s: the control-plane group is on the API server, the node group (with EKS's own) on the nodes", (c) => {
        const eks = eksOf(run.resources, c);
        expect(eks.inputs.clusterSecurityGroup.__name).toBe(`aws-${c}-control-plane`);
        expect(eks.inputs.skipDefaultSecurityGroups).toBe(true);
        const controlPlaneSg = named(run.resources, "aws:ec2/securityGroup:SecurityGroup", `aws-${c}-control-plane`);
        expect(dependsOn(run.resources, eks, controlPlaneSg)).toBe(true);
        const lt = named(run.resources, "aws:ec2/launchTemplate:LaunchTemplate", `eks-${c}-nodes`);
        expect(lt.inputs.vpcSecurityGroupIds).toEqual([`sg-eks-${c}`, `aws-${c}-nodes-id`]);
        const ng = named(run.resources, "aws:eks/nodeGroup:NodeGroup", `eks-${c}-nodes`);
        expect(ng.inputs.launchTemplate).toEqual({ id: `eks-${c}-nodes-id`, version: "1" });
    });
});

describe("EKS clusters", () => {
    test("cluster-1 is IPv4, cluster-2 IPv6, both on a supported Kubernetes version and named as configured", () => {
        expect(eksOf(run.resources, "cluster-1").inputs).toMatchObject({ name: "cluster-1", ipFamily: "ipv4" });
        expect(eksOf(run.resources, "cluster-2").inputs).toMatchObject({ name: "cluster-2", ipFamily: "ipv6" });
        for (const c of CLUSTERS) {
            const minor = Number(String(eksOf(run.resources, c).inputs.version).split(".")[1]);
            expect(minor).toBeGreaterThanOrEqual(32);
        }
    });

    test.each(CLUSTERS)("%s: private API endpoint plus a public one limited to the configured CIDRs", (c) => {
        const inputs = eksOf(run.resources, c).inputs;
        expect(inputs).toMatchObject({ endpointPrivateAccess: true, endpointPublicAccess: true, publicAccessCidrs: ["0.0.0.0/0"], authenticationMode: "API" });
        expect(inputs.vpcId).toBe("aws-vpc-id");
        expect(inputs.privateSubnetIds.sort()).toEqual(["aws-private-0-id", "aws-private-1-id", "aws-private-2-id"]);
        expect(inputs.publicSubnetIds.sort()).toEqual(["aws-public-0-id", "aws-public-1-id", "aws-public-2-id"]);
        expect(inputs.skipDefaultNodeGroup).toBe(true);
    });

    test("public access CIDRs come from config; an empty list leaves only the private endpoint", async () => {
        const restricted = await runAws({
            "istio-multicluster:clusters": clustersWith((c, i) => ({ ...c, publicAccessCidrs: i === 0 ? ["203.0.113.0/24", "198.51.100.7/32"] : [] })),
        });
        expect(eksOf(restricted.resources, "cluster-1").inputs).toMatchObject({ endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24", "198.51.100.7/32"] });
        const privateOnly = eksOf(restricted.resources, "cluster-2").inputs;
        expect(privateOnly.endpointPublicAccess).toBe(false);
        expect(privateOnly.publicAccessCidrs).toBeUndefined();
        expect(privateOnly.endpointPrivateAccess).toBe(true);
    });

    test("VPC CNI add-on: ENABLE_V6_EGRESS (aws-node and init) on the IPv4 cluster, ENABLE_V4_EGRESS on the IPv6 one", () => {
        const cni = (c: string) => eksOf(run.resources, c).inputs.vpcCniOptions.configurationValues;
        expect(cni("cluster-1")).toEqual({ env: { ENABLE_V6_EGRESS: "true" }, init: { env: { ENABLE_V6_EGRESS: "true" } } });
        expect(cni("cluster-2")).toEqual({ env: { ENABLE_V4_EGRESS: "true" } });
        // The component keeps managing the add-on (not the self-managed DaemonSet the seed patched by hand).
        for (const c of CLUSTERS) expect(eksOf(run.resources, c).inputs.useDefaultVpcCni).toBeUndefined();
    });

    const attachmentsOf = (c: string) =>
        ofType(run.resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            .filter((a) => a.inputs.role === `eks-${c}-node-role`)
            .map((a) => a.inputs.policyArn as string)
            .sort();

    test("node roles: worker, registry and IPv4 CNI policies on cluster-1; worker, registry and the IPv6 CNI policy on cluster-2", () => {
        expect(attachmentsOf("cluster-1")).toEqual([
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        ]);
        expect(attachmentsOf("cluster-2")).toEqual(
            [
                "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
                "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                `arn:aws:iam::${ACCOUNT}:policy/eks-cluster-2-cni-ipv6`,
            ].sort(),
        );
        const ipv6Policy = JSON.parse(named(run.resources, "aws:iam/policy:Policy", "eks-cluster-2-cni-ipv6").inputs.policy);
        expect(ipv6Policy.Statement[0].Action).toEqual(expect.arrayContaining(["ec2:AssignIpv6Addresses", "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces"]));
        expect(ipv6Policy.Statement[1]).toMatchObject({ Action: ["ec2:CreateTags"], Resource: ["arn:aws:ec2:*:*:network-interface/*"] });
        const trust = JSON.parse(named(run.resources, "aws:iam/role:Role", "eks-cluster-2-node-role").inputs.assumeRolePolicy);
        expect(trust.Statement[0].Principal).toEqual({ Service: "ec2.amazonaws.com" });
    });

    test.each(CLUSTERS)("%s: a managed node group in the private subnets with the node role and the configured size", (c) => {
        const ng = named(run.resources, "aws:eks/nodeGroup:NodeGroup", `eks-${c}-nodes`);
        expect(ng.inputs).toMatchObject({
            clusterName: c,
            nodeRoleArn: `arn:aws:iam::${ACCOUNT}:role/eks-${c}-node-role`,
            instanceTypes: ["m5.large"],
            amiType: "AL2023_x86_64_STANDARD",
            scalingConfig: { minSize: 1, desiredSize: 2, maxSize: 3 },
        });
        expect(ng.inputs.subnetIds.sort()).toEqual(["aws-private-0-id", "aws-private-1-id", "aws-private-2-id"]);
        expect(dependsOn(run.resources, ng, eksOf(run.resources, c))).toBe(true);
        for (const a of ofType(run.resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").filter((a) => a.inputs.role === `eks-${c}-node-role`)) {
            expect(dependsOn(run.resources, ng, a)).toBe(true);
        }
    });
});

describe("AWS Load Balancer Controller", () => {
    test.each(CLUSTERS)("%s: chart with the cluster's name, region and VPC, on the cluster's provider", (c) => {
        const release = lbcReleaseOf(run.resources, c);
        expect(release.inputs).toMatchObject({
            chart: "aws-load-balancer-controller",
            namespace: "kube-system",
            repositoryOpts: { repo: "https://aws.github.io/eks-charts" },
            version: "1.17.1",
        });
        expect(release.inputs.values).toMatchObject({ clusterName: c, region: REGION, vpcId: "aws-vpc-id", serviceAccount: { create: true, name: "aws-load-balancer-controller" } });
        expect(providerUrn(release)).toBe(providerOf(run.resources, c).urn);
    });

    test.each(CLUSTERS)("%s: IAM role through EKS Pod Identity for the chart's service account", (c) => {
        const role = named(run.resources, "aws:iam/role:Role", `eks-${c}-lbc-role`);
        const trust = JSON.parse(role.inputs.assumeRolePolicy);
        expect(trust.Statement).toEqual([{ Effect: "Allow", Principal: { Service: "pods.eks.amazonaws.com" }, Action: ["sts:AssumeRole", "sts:TagSession"] }]);
        const association = named(run.resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation", `eks-${c}-lbc-pod-identity`);
        expect(association.inputs).toMatchObject({ clusterName: c, namespace: "kube-system", serviceAccount: "aws-load-balancer-controller", roleArn: `arn:aws:iam::${ACCOUNT}:role/eks-${c}-lbc-role` });
        const attachment = one(
            run.resources,
            (r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && r.inputs.role === `eks-${c}-lbc-role`,
            "LBC policy attachment",
        );
        expect(attachment.inputs.policyArn).toBe(`arn:aws:iam::${ACCOUNT}:policy/eks-${c}-lbc-policy`);
        const agent = named(run.resources, "aws:eks/addon:Addon", `eks-${c}-pod-identity-agent`);
        const coreDns = named(run.resources, "aws:eks/addon:Addon", `eks-${c}-coredns`);
        expect(coreDns.inputs).toMatchObject({ clusterName: c, addonName: "coredns" });
        expect(dependsOn(run.resources, coreDns, named(run.resources, "aws:eks/nodeGroup:NodeGroup", `eks-${c}-nodes`))).toBe(true);
        expect(agent.inputs).toMatchObject({ clusterName: c, addonName: "eks-pod-identity-agent" });
        const release = lbcReleaseOf(run.resources, c);
        for (const needed of [association, attachment, agent, coreDns]) expect(dependsOn(run.resources, release, needed)).toBe(true);
    });

    test("its policy lets it create load balancers only when tagging them, and change or delete only its own", () => {
        const policy = JSON.parse(named(run.resources, "aws:iam/policy:Policy", "eks-cluster-1-lbc-policy").inputs.policy);
        const statement = (action: string) => policy.Statement.filter((s: any) => [s.Action].flat().includes(action));
        expect(statement("elasticloadbalancing:CreateLoadBalancer")[0].Condition).toEqual({ Null: { "aws:RequestTag/elbv2.k8s.aws/cluster": "false" } });
        expect(statement("elasticloadbalancing:DeleteLoadBalancer")[0].Condition).toEqual({ Null: { "aws:ResourceTag/elbv2.k8s.aws/cluster": "false" } });
        expect(statement("ec2:DeleteSecurityGroup")[0].Condition).toEqual({ Null: { "aws:ResourceTag/elbv2.k8s.aws/cluster": "false" } });
        for (const action of ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:CreateListener", "ec2:AuthorizeSecurityGroupIngress", "ec2:DescribeSubnets"]) {
            expect(statement(action)).toHaveLength(1);
        }
        expect(policy.Statement.flatMap((s: any) => [s.Action].flat()).filter((a: string) => a.endsWith(":*"))).toEqual([]);
    });
});

describe("mesh on EKS", () => {
    test("one network for both clusters, so no east-west gateway", () => {
        expect(ofType(run.resources, "istio-multicluster:index:EastWestGateway")).toHaveLength(0);
        const gatewayCharts = ofType(run.resources, "kubernetes:helm.sh/v3:Release").filter((r) => r.inputs.values?.networkGateway !== undefined);
        expect(gatewayCharts).toHaveLength(0);
        for (const c of CLUSTERS) {
            const istiod = named(run.resources, "kubernetes:helm.sh/v3:Release", `mesh-${c}-istiod`);
            expect(istiod.inputs.values.global).toMatchObject({ network: "network1", multiCluster: { clusterName: c }, meshID: "mesh1" });
        }
    });

    test("istiod in the IPv6 cluster lets sidecars reach IPv4 destinations; the IPv4 cluster's does not need to", () => {
        const env = (c: string) => named(run.resources, "kubernetes:helm.sh/v3:Release", `mesh-${c}-istiod`).inputs.values.env ?? {};
        expect(env("cluster-2")).toMatchObject({ ISTIO_ENABLE_IPV4_OUTBOUND_LISTENER_FOR_IPV6_CLUSTERS: "true" });
        expect(env("cluster-1").ISTIO_ENABLE_IPV4_OUTBOUND_LISTENER_FOR_IPV6_CLUSTERS).toBeUndefined();
    });

    test.each([
        ["cluster-1", "cluster-2"],
        ["cluster-2", "cluster-1"],
    ])("remote secret for %s in %s: bearer token, EKS endpoint, no exec", (source, target) => {
        const secret = named(run.resources, "kubernetes:core/v1:Secret", `mesh-${source}-to-${target}-remote-secret`);
        expect(providerUrn(secret)).toBe(providerOf(run.resources, target).urn);
        const data = secret.inputs.stringData;
        expect(isSecret(data[source]) || isSecret(data)).toBe(true);
        const text = plain(data)[source] as string;
        expect(text).not.toMatch(/exec/);
        const kubeconfig = parseYaml(text);
        expect(kubeconfig.clusters[0].cluster.server).toBe(endpointOf(source));
        expect(kubeconfig.users[0].user).toEqual({ token: expect.stringContaining("istio-reader-service-account") });
        const token = named(run.resources, "kubernetes:core/v1:Secret", `mesh-${source}-to-${target}-reader-token`);
        expect(providerUrn(token)).toBe(providerOf(run.resources, source).urn);
    });

    test("every Kubernetes resource is on its own cluster's provider", () => {
        const k8s = run.resources.filter((r) => r.type.startsWith("kubernetes:"));
        expect(k8s.length).toBeGreaterThan(10);
        const clusterOf = (r: Declared): string => {
            const pair = /^mesh-(cluster-\d)-to-(cluster-\d)-(reader-token|remote-secret)$/.exec(r.name);
            if (pair) return pair[3] === "reader-token" ? pair[1] : pair[2];
            const own = /(?:^|-)(cluster-\d)(?:-|$)/.exec(r.name);
            if (!own) throw new Error(`cannot tell which cluster ${r.type} ${r.name} belongs to`);
            return own[1];
        };
        for (const r of k8s) {
            expect({ resource: r.name, provider: providerUrn(r) }).toEqual({ resource: r.name, provider: providerOf(run.resources, clusterOf(r)).urn });
        }
    });

    test.each(CLUSTERS)("%s: the Cluster's API server is the EKS endpoint and its provider uses the EKS kubeconfig", (c) => {
        const provider = providerOf(run.resources, c);
        const kubeconfig = JSON.parse(plain(provider.inputs.kubeconfig));
        expect(kubeconfig.clusters[0].cluster.server).toBe(endpointOf(c));
        expect(isSecret(provider.inputs.kubeconfig)).toBe(true);
        expect(run.outputs.apiServerUrls).toMatchObject({ [c]: endpointOf(c) });
    });
});

describe("destroy order", () => {
    test.each(CLUSTERS)("%s: exactly the releases that make load balancers wait for (so are deleted before) its Load Balancer Controller", (c) => {
        const release = lbcReleaseOf(run.resources, c);
        const inCluster = run.resources.filter((r) => r.type.startsWith("kubernetes:") && !r.read && r !== release && providerUrn(r) === providerOf(run.resources, c).urn);
        expect(inCluster.length).toBeGreaterThan(5);
        const waiting = inCluster.filter((r) => dependsOn(run.resources, r, release)).map((r) => r.name);
        // Istio and the samples need not wait for the controller (that would lengthen time-to-mesh); gateway
        // releases (their LoadBalancer Services) and what waits for them do.
        const gateways = inCluster.filter((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "gateway").map((r) => r.name);
        for (const g of gateways) expect(waiting).toContain(g);
        expect(inCluster.filter((r) => r.inputs.chart === "istiod" || r.inputs.chart === "base").filter((r) => waiting.includes(r.name))).toEqual([]);
    });

    test("the control plane waits only for its subnets and security groups; the nodes wait for egress (routes, NAT)", () => {
        const rs = run.resources;
        for (const c of CLUSTERS) {
            const eks = eksOf(rs, c);
            const ng = named(rs, "aws:eks/nodeGroup:NodeGroup", `eks-${c}-nodes`);
            for (const nat of ofType(rs, "aws:ec2/natGateway:NatGateway")) {
                expect(eks.dependencies).not.toContain(nat.urn);
                expect(dependsOn(rs, ng, nat)).toBe(true);
            }
        }
    });

    test("the controller's Service webhook is off: Services created while it starts are not refused", () => {
        for (const c of CLUSTERS) expect(lbcReleaseOf(run.resources, c).inputs.values.enableServiceMutatorWebhook).toBe(false);
    });

    test("Bookinfo's ingress gateway is an internet-facing NLB from the controller, deleted before it", () => {
        const gateway = named(run.resources, "kubernetes:helm.sh/v3:Release", "samples-cluster-1-ingressgateway");
        expect(gateway.inputs.values.service.annotations).toMatchObject({
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
        });
        expect(dependsOn(run.resources, gateway, lbcReleaseOf(run.resources, "cluster-1"))).toBe(true);
    });

    test("Bookinfo's ingress takes the front cluster's NLB annotations: an IPv6 front cluster gets dualstack with no stack config for it", async () => {
        const ingressAnnotations = (r: RunResult, c: string) => named(r.resources, "kubernetes:helm.sh/v3:Release", `samples-${c}-ingressgateway`).inputs.values.service.annotations;
        const nlb = {
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            "istio-multicluster/exposure": "public",
        };
        // The committed stack has no ingress annotations of its own: they are the program's.
        expect(loadStackConfig("aws")["istio-multicluster:samples"]).toBeUndefined();
        expect(ingressAnnotations(run, "cluster-1")).toEqual(nlb);
        const v6Front = await runAws({ "istio-multicluster:samples": JSON.stringify({ bookinfo: { frontCluster: "cluster-2", reviewsClusters: ["cluster-1"] } }) });
        expect(ingressAnnotations(v6Front, "cluster-2")).toEqual({ ...nlb, "service.beta.kubernetes.io/aws-load-balancer-ip-address-type": "dualstack" });
        // What the stack config says wins over the program's.
        const own = await runAws({
            "istio-multicluster:samples": JSON.stringify({ bookinfo: { ingressServiceAnnotations: { "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal" } } }),
        });
        expect(ingressAnnotations(own, "cluster-1")).toEqual({ ...nlb, "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal" });
    });

    test.each(CLUSTERS)("%s: controller before its nodes and cluster; cluster before the VPC, its subnets and routes", (c) => {
        const rs = run.resources;
        const release = lbcReleaseOf(rs, c);
        const eks = eksOf(rs, c);
        const ng = named(rs, "aws:eks/nodeGroup:NodeGroup", `eks-${c}-nodes`);
        expect(dependsOn(rs, release, ng)).toBe(true);
        expect(dependsOn(rs, release, eks)).toBe(true);
        // The control plane needs the VPC and subnets; its nodes also need egress and the mesh's rules, so the
        // node group (and through it the controller) goes before routes, NAT and rules on destroy.
        for (const type of ["aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet"]) {
            for (const r of ofType(rs, type)) expect({ on: r.name, waits: dependsOn(rs, eks, r) }).toEqual({ on: r.name, waits: true });
        }
        for (const type of ["aws:ec2/route:Route", "aws:ec2/natGateway:NatGateway", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"]) {
            for (const r of ofType(rs, type)) expect({ on: r.name, waits: dependsOn(rs, ng, r) }).toEqual({ on: r.name, waits: true });
        }
        // And nothing in the network waits for a cluster.
        for (const r of rs.filter((r) => r.type.startsWith("aws:ec2/") || r.type.startsWith("aws:vpc/"))) {
            if (r.type === "aws:ec2/launchTemplate:LaunchTemplate") continue;
            expect(dependsOn(rs, r, eks)).toBe(false);
        }
    });

    test("with two networks, the east-west gateway Services (dual-stack NLB on the IPv6 cluster) go before the controller", async () => {
        const twoNetworks = await runAws({ "istio-multicluster:clusters": clustersWith((c, i) => ({ ...c, network: `network${i + 1}` })) });
        const rs = twoNetworks.resources;
        for (const c of CLUSTERS) {
            const gateway = named(rs, "kubernetes:helm.sh/v3:Release", `mesh-${c}-eastwest-release`);
            expect(dependsOn(rs, gateway, lbcReleaseOf(rs, c))).toBe(true);
            expect(providerUrn(gateway)).toBe(providerOf(rs, c).urn);
        }
        const annotations = (c: string) => named(rs, "kubernetes:helm.sh/v3:Release", `mesh-${c}-eastwest-release`).inputs.values.service.annotations;
        const nlb = {
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
        };
        expect(annotations("cluster-1")).toEqual(nlb);
        expect(annotations("cluster-2")).toEqual({ ...nlb, "service.beta.kubernetes.io/aws-load-balancer-ip-address-type": "dualstack" });
    });
});

describe("stack outputs", () => {
    test("VPC id, cluster names, API endpoints, and kubeconfigs as a secret", () => {
        const platform = run.outputs.platform as Record<string, any>;
        expect(isSecret(platform)).toBe(false);
        expect(platform).toMatchObject({
            vpcId: "aws-vpc-id",
            eksClusterNames: ["cluster-1", "cluster-2"],
            apiEndpoints: { "cluster-1": endpointOf("cluster-1"), "cluster-2": endpointOf("cluster-2") },
        });
        expect(run.outputs.clusterNames).toEqual(["cluster-1", "cluster-2"]);
        expect(isSecret(run.outputs.kubeconfigs)).toBe(true);
        const kubeconfigs = plain(run.outputs.kubeconfigs);
        for (const c of CLUSTERS) expect(JSON.parse(kubeconfigs[c]).users[0].user.exec.command).toBe("aws");
    });
});

test("bad settings stop the program before anything is declared", async () => {
    await expect(runAws({ "istio-multicluster:clusters": clustersWith((c, i) => ({ ...c, ipFamily: i === 1 ? "dualstack" : c.ipFamily })) })).rejects.toThrow(
        /istio-multicluster:clusters\[1\]\.ipFamily: must be ipv4 or ipv6/,
    );
});

test("without a region the program stops and says how to set one", async () => {
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
        await expect(runProgram(loadStackConfig("aws"), awsMocks())).rejects.toThrow(/aws:region: not set; choose the region to build in with `pulumi config set aws:region <region>`/);
    } finally {
        for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
    }
});

describe("policy pack (pulumi preview --policy-pack policy)", () => {
    test("with the public API endpoints restricted, the whole AWS graph passes every policy", async () => {
        const restricted = await runAws({ "istio-multicluster:clusters": clustersWith((c) => ({ ...c, publicAccessCidrs: ["203.0.113.0/24"] })) });
        expect(await policyViolations(restricted.resources)).toEqual([]);
    });

    test("the committed default (API open to 0.0.0.0/0, as in the seed) is the only thing the pack flags, as advisory", async () => {
        expect(await policyViolations(run.resources)).toEqual(["api-servers-not-open-to-the-world: eks-cluster-1-eks", "api-servers-not-open-to-the-world: eks-cluster-2-eks"]);
        expect(await policyViolations(run.resources, { level: "mandatory" })).toEqual([]);
    });
});

