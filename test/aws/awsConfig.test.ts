/** Every bad AWS setting fails before anything is declared, naming the setting and what is allowed. */
import { ConfigError, rawSettings } from "../../stacks/config";
import { awsSettings, checkRegion } from "../../stacks/aws";
import { loadStackConfig } from "../support/stackConfig";

const committed = () => loadStackConfig("aws", { "aws:region": "eu-west-1" }) as Record<string, string>;
const committedClusters = () => JSON.parse(committed()["istio-multicluster:clusters"]) as Record<string, unknown>[];

/** The committed stack with some settings replaced (values as they would come from `pulumi config set`). */
function settingsWith(overrides: Record<string, unknown>) {
    const config = committed();
    for (const [k, v] of Object.entries(overrides)) {
        const key = `istio-multicluster:${k}`;
        if (v === undefined) delete config[key];
        else config[key] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return awsSettings(rawSettings(config));
}

function problems(overrides: Record<string, unknown>): string[] {
    try {
        settingsWith(overrides);
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
    throw new Error("expected a ConfigError");
}

/** Cluster `i` of the committed list with `change` applied. */
const cluster = (i: number, change: Record<string, unknown>) => committedClusters().map((c, j) => (j === i ? { ...c, ...change } : c));

test("the committed Pulumi.aws.yaml is valid and means the seed's topology", () => {
    const s = settingsWith({});
    expect(s.platform).toBe("aws");
    expect(s.meshId).toBe("mesh1");
    expect(s.aws).toEqual({ vpcCidr: "10.0.0.0/16", availabilityZoneCount: 3, natGateways: "single", loadBalancerControllerChartVersion: "1.17.1", tags: {} });
    expect(s.clusters.map((c) => [c.name, c.network, c.ipFamily])).toEqual([
        ["cluster-1", "network1", "ipv4"],
        ["cluster-2", "network1", "ipv6"],
    ]);
});

test("defaults when only names, networks and IP families are given", () => {
    const s = settingsWith({
        aws: undefined,
        clusters: [
            { name: "a", network: "n" },
            { name: "b", network: "n", ipFamily: "ipv6" },
        ],
    });
    expect(s.aws.vpcCidr).toBe("10.0.0.0/16");
    expect(s.clusters[0]).toEqual({
        name: "a",
        network: "n",
        ipFamily: "ipv4",
        kubernetesVersion: "1.35",
        instanceTypes: ["m5.large"],
        amiType: "AL2023_x86_64_STANDARD",
        minNodes: 1,
        desiredNodes: 2,
        maxNodes: 3,
        publicAccessCidrs: ["0.0.0.0/0"],
        // Nobody but the identity that creates the cluster (EKS's own admin entry for its creator).
        accessEntries: [],
    });
    expect(s.clusters[1].ipFamily).toBe("ipv6");
});

describe("IP families", () => {
    test("anything but ipv4 or ipv6", () => {
        expect(problems({ clusters: cluster(1, { ipFamily: "dualstack" }) })).toEqual([
            "istio-multicluster:clusters[1].ipFamily: must be ipv4 or ipv6 (the pod and Service IP family, fixed when the cluster is created)",
        ]);
        expect(problems({ clusters: cluster(0, { ipFamily: "IPv6" }) })[0]).toMatch(/^istio-multicluster:clusters\[0\]\.ipFamily: must be ipv4 or ipv6/);
    });

    test("a misspelt key is unknown, with a suggestion", () => {
        const [problem] = problems({ clusters: cluster(1, { ipfamily: "ipv6" }) });
        expect(problem).toMatch(/^istio-multicluster:clusters\[1\]\.ipfamily: unknown setting; did you mean "ipFamily"\? Allowed here: .*ipFamily/);
    });
});

describe("VPC CIDR", () => {
    test.each([
        ["10.0.0.0", /istio-multicluster:aws\.vpcCidr: "10\.0\.0\.0" is not a CIDR block; write address\/prefix-length/],
        ["10.0.0.1/16", /istio-multicluster:aws\.vpcCidr: "10\.0\.0\.1\/16" has host bits set; did you mean 10\.0\.0\.0\/16\?/],
        ["10.0.0.0/8", /istio-multicluster:aws\.vpcCidr: "10\.0\.0\.0\/8" is a \/8; a VPC block must be \/16 to \/24/],
        ["10.0.0.0/27", /istio-multicluster:aws\.vpcCidr: .* is a \/27; a VPC block must be \/16 to \/24/],
        ["300.0.0.0/16", /istio-multicluster:aws\.vpcCidr: "300\.0\.0\.0" is not a valid IPv4 address \(four numbers 0-255/],
        ["fd00:10::/56", /istio-multicluster:aws\.vpcCidr: "fd00:10::\/56" is an IPv6 block; an IPv4 CIDR .* is needed here/],
    ])("%j", (vpcCidr, message) => {
        const found = problems({ aws: { vpcCidr } });
        expect(found).toHaveLength(1);
        expect(found[0]).toMatch(message);
    });

    test("too small for the number of zones", () => {
        expect(problems({ aws: { vpcCidr: "10.0.0.0/24", availabilityZoneCount: 6 } })).toEqual([
            'istio-multicluster:aws.vpcCidr: "10.0.0.0/24" is too small for 6 availability zones: the public subnets would be /30, smaller than the /28 AWS allows; use a larger block or fewer zones',
        ]);
        expect(() => settingsWith({ aws: { vpcCidr: "10.0.0.0/24", availabilityZoneCount: 2 } })).not.toThrow();
    });

    test("not a string", () => {
        expect(problems({ aws: { vpcCidr: 10 } })[0]).toMatch(/^istio-multicluster:aws\.vpcCidr: must be an IPv4 CIDR string such as "10\.0\.0\.0\/16"/);
    });
});

describe("public API access CIDRs", () => {
    test("IPv6 blocks and malformed entries are named by position", () => {
        expect(problems({ clusters: cluster(1, { publicAccessCidrs: ["203.0.113.0/24", "2001:db8::/48", "198.51.100.7"] }) })).toEqual([
            'istio-multicluster:clusters[1].publicAccessCidrs[1]: "2001:db8::/48" is an IPv6 block; an IPv4 CIDR such as "10.0.0.0/16" is needed here (EKS public endpoint access lists take IPv4 blocks)',
            'istio-multicluster:clusters[1].publicAccessCidrs[2]: "198.51.100.7" is not a CIDR block; write address/prefix-length, such as 10.1.0.0/16 (EKS public endpoint access lists take IPv4 blocks)',
        ]);
    });

    test("host bits set", () => {
        expect(problems({ clusters: cluster(0, { publicAccessCidrs: ["203.0.113.9/24"] }) })).toEqual([
            'istio-multicluster:clusters[0].publicAccessCidrs[0]: "203.0.113.9/24" has host bits set; did you mean 203.0.113.0/24? (EKS public endpoint access lists take IPv4 blocks)',
        ]);
    });

    test("a block inside the VPC (that traffic uses the private endpoint)", () => {
        expect(problems({ clusters: cluster(0, { publicAccessCidrs: ["10.0.5.0/24"] }) })).toEqual([
            'istio-multicluster:clusters[0].publicAccessCidrs[0]: "10.0.5.0/24" is inside the VPC (10.0.0.0/16); traffic from the VPC uses the private endpoint, so list the public addresses of your operators or CI here',
        ]);
        expect(problems({ clusters: cluster(0, { publicAccessCidrs: ["8.0.0.0/4"] }) })).toHaveLength(1);
    });

    test("more than EKS accepts, or not a list", () => {
        const many = Array.from({ length: 41 }, (_, i) => `198.51.${i}.0/24`);
        expect(problems({ clusters: cluster(0, { publicAccessCidrs: many }) })).toEqual(["istio-multicluster:clusters[0].publicAccessCidrs: must list at most 40 CIDRs (the EKS limit)"]);
        expect(problems({ clusters: cluster(0, { publicAccessCidrs: "0.0.0.0/0" }) })).toEqual([
            'istio-multicluster:clusters[0].publicAccessCidrs: must be a list of IPv4 CIDRs, such as ["203.0.113.0/24"]',
        ]);
    });

    test("an empty list is allowed: private endpoint only", () => {
        expect(settingsWith({ clusters: cluster(0, { publicAccessCidrs: [] }) }).clusters[0].publicAccessCidrs).toEqual([]);
    });
});

describe("Kubernetes versions and node groups", () => {
    test.each([
        [
            "1.31",
            'istio-multicluster:clusters[0].kubernetesVersion: Kubernetes 1.31 is too old for Istio 1.31.1 (istio-multicluster:istioVersion), which supports Kubernetes 1.32 to 1.36; use one of those, such as "1.35"',
        ],
        [
            "1.37",
            'istio-multicluster:clusters[0].kubernetesVersion: Kubernetes 1.37 is too new for Istio 1.31.1 (istio-multicluster:istioVersion), which supports Kubernetes 1.32 to 1.36; use one of those, such as "1.35"',
        ],
        ["1.33.2", 'istio-multicluster:clusters[0].kubernetesVersion: must be a Kubernetes minor version "1.x", such as "1.35"'],
        ["latest", 'istio-multicluster:clusters[0].kubernetesVersion: must be a Kubernetes minor version "1.x", such as "1.35"'],
    ])("version %j", (kubernetesVersion, message) => {
        expect(problems({ clusters: cluster(0, { kubernetesVersion }) })).toEqual([message]);
    });

    test("the bounds follow the chosen Istio minor (1.30 also supports 1.32 to 1.36)", () => {
        expect(problems({ istioVersion: "1.30.5", clusters: cluster(0, { kubernetesVersion: "1.31" }) })).toEqual([
            'istio-multicluster:clusters[0].kubernetesVersion: Kubernetes 1.31 is too old for Istio 1.30.5 (istio-multicluster:istioVersion), which supports Kubernetes 1.32 to 1.36; use one of those, such as "1.35"',
        ]);
        expect(settingsWith({ istioVersion: "1.30.5", clusters: cluster(0, { kubernetesVersion: "1.36" }) }).clusters[0].kubernetesVersion).toBe("1.36");
        expect(settingsWith({ istioVersion: "1.31.1", clusters: cluster(0, { kubernetesVersion: "1.32" }) }).clusters[0].kubernetesVersion).toBe("1.32");
    });

    test("a version given as a YAML number is refused, not misread", () => {
        expect(problems({ clusters: cluster(0, { kubernetesVersion: 1.3 }) })).toEqual(['istio-multicluster:clusters[0].kubernetesVersion: must be a string such as "1.35"']);
    });

    test("node counts out of order or below one", () => {
        expect(problems({ clusters: cluster(1, { minNodes: 3, desiredNodes: 2, maxNodes: 4 }) })).toEqual([
            "istio-multicluster:clusters[1].desiredNodes: node counts must satisfy minNodes ≤ desiredNodes ≤ maxNodes; got 3 ≤ 2 ≤ 4",
        ]);
        expect(problems({ clusters: cluster(0, { minNodes: 0, desiredNodes: 0, maxNodes: 2 }) })).toEqual([
            "istio-multicluster:clusters[0].desiredNodes: must be at least 1: Istio and the Load Balancer Controller need a node to run on",
        ]);
        expect(problems({ clusters: cluster(0, { maxNodes: 2.5 }) })[0]).toBe("istio-multicluster:clusters[0].maxNodes: must be a whole number (maximum nodes)");
    });

    test("instance types and AMI types", () => {
        expect(problems({ clusters: cluster(0, { instanceTypes: [] }) })).toEqual(["istio-multicluster:clusters[0].instanceTypes: must list at least one EC2 instance type"]);
        expect(problems({ clusters: cluster(0, { instanceTypes: ["large"] }) })).toEqual(['istio-multicluster:clusters[0].instanceTypes[0]: must be an EC2 instance type such as "m5.large"']);
        expect(problems({ clusters: cluster(0, { amiType: "AL2_x86_64" }) })[0]).toMatch(
            /^istio-multicluster:clusters\[0\]\.amiType: must be one of AL2023_x86_64_STANDARD, AL2023_ARM_64_STANDARD, BOTTLEROCKET_x86_64, BOTTLEROCKET_ARM_64$/,
        );
    });
});

describe("the aws section", () => {
    test("unknown keys, with a suggestion", () => {
        expect(problems({ aws: { vpcCIDR: "10.0.0.0/16" } })[0]).toMatch(/^istio-multicluster:aws\.vpcCIDR: unknown setting; did you mean "vpcCidr"\?/);
    });

    test("availability zones: EKS needs two", () => {
        expect(problems({ aws: { availabilityZoneCount: 1 } })).toEqual(["istio-multicluster:aws.availabilityZoneCount: must be at least 2: EKS needs subnets in two availability zones"]);
        expect(problems({ aws: { availabilityZoneCount: 7 } })).toEqual(["istio-multicluster:aws.availabilityZoneCount: must be at most 6"]);
    });

    test("NAT gateway mode, chart version and reserved tag keys", () => {
        expect(problems({ aws: { natGateways: "perAz" } })).toEqual(["istio-multicluster:aws.natGateways: must be one of single, perZone"]);
        expect(problems({ aws: { loadBalancerControllerChartVersion: "latest" } })).toEqual([
            'istio-multicluster:aws.loadBalancerControllerChartVersion: must be an exact chart version "x.y.z", such as "1.17.1"',
        ]);
        expect(problems({ aws: { tags: { "aws:owner": "me" } } })).toEqual(['istio-multicluster:aws.tags.aws:owner: tag key "aws:owner": the "aws:" prefix is reserved by AWS']);
    });
});

test("every problem is reported at once", () => {
    const found = problems({
        aws: { vpcCidr: "10.0.0.0/8" },
        clusters: [
            { name: "cluster-1", network: "network1", ipFamily: "ipv5" },
            { name: "cluster-2", network: "network1", kubernetesVersion: "1.29", publicAccessCidrs: ["::/0"] },
        ],
    });
    expect(found).toEqual(
        expect.arrayContaining([
            expect.stringMatching(/^istio-multicluster:aws\.vpcCidr: /),
            expect.stringMatching(/^istio-multicluster:clusters\[0\]\.ipFamily: /),
            expect.stringMatching(/^istio-multicluster:clusters\[1\]\.kubernetesVersion: /),
            expect.stringMatching(/^istio-multicluster:clusters\[1\]\.publicAccessCidrs\[0\]: /),
        ]),
    );
    expect(found).toHaveLength(4);
});

test("cluster names must be unique (they are Istio cluster IDs and EKS names)", () => {
    expect(problems({ clusters: cluster(1, { name: "cluster-1" }) })).toEqual([
        'istio-multicluster:clusters: cluster name "cluster-1" is used more than once; names must be unique (they are Istio cluster IDs)',
    ]);
});

test("counts written as text mean the same as numbers (as on Azure), and the region is reported with the other problems", () => {
    const asText = settingsWith({
        aws: { vpcCidr: "10.0.0.0/16", availabilityZoneCount: "3" },
        clusters: committedClusters().map((c) => ({ ...c, minNodes: "1", desiredNodes: "2", maxNodes: "3" })),
    });
    expect(asText).toEqual(settingsWith({}));
    const config = committed();
    delete config["aws:region"];
    try {
        awsSettings(rawSettings({ ...config, "istio-multicluster:aws": JSON.stringify({ availabilityZoneCount: 1 }) }), checkRegion(undefined, {}));
        throw new Error("expected a ConfigError");
    } catch (e) {
        expect((e as ConfigError).problems).toEqual([
            "istio-multicluster:aws.availabilityZoneCount: must be at least 2: EKS needs subnets in two availability zones",
            "aws:region: not set; choose the region to build in with `pulumi config set aws:region <region>` (or set AWS_REGION)",
        ]);
    }
});
