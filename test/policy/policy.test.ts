/**
 * Each guardrail, with resources that pass and resources that fail; and the program's own graph passes all.
 */
import * as fs from "fs";
import * as path from "path";
import { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import * as p from "../../policy/policies";
import { runProgram, runProgramExpectingError } from "../support/harness";
import { policyViolations } from "../support/policyRun";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";

const CLUSTER_PROVIDER = { type: "pulumi:providers:kubernetes", name: "cluster1-k8s", urn: "urn:p", props: {} };

/** `provider: null` means none (a default provider). */
function args(type: string, props: Record<string, any>, provider: typeof CLUSTER_PROVIDER | null = CLUSTER_PROVIDER): ResourceValidationArgs {
    return {
        type,
        props,
        urn: `urn:pulumi:s::p::${type}::r`,
        name: "r",
        opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
        provider: provider ?? undefined,
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: () => ({}) as any,
    } as unknown as ResourceValidationArgs;
}

async function violations(policy: ResourceValidationPolicy, a: ResourceValidationArgs): Promise<string[]> {
    const found: string[] = [];
    const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
    for (const v of validations) await v(a, (message) => found.push(message));
    return found;
}

const release = (chart: string, version: string, values: Record<string, unknown> = {}) =>
    args("kubernetes:helm.sh/v3:Release", { chart, version, values, repositoryOpts: { repo: "https://blob.istio.io/istio-release/charts" } });
/** The same chart as the program declares it from Istio's OCI registry, a local directory, or the retired repository. */
const fromOci = (chart: string, version: string, values: Record<string, unknown> = {}) =>
    args("kubernetes:helm.sh/v3:Release", { chart: `oci://ghcr.io/istio/release/charts/${chart}`, version, values });
const fromDir = (chart: string, version: string, values: Record<string, unknown> = {}) =>
    args("kubernetes:helm.sh/v3:Release", { chart: `/srv/istio-charts/${version}/${chart}`, version, values });
const fromLegacyRepo = (chart: string, version: string) =>
    args("kubernetes:helm.sh/v3:Release", { chart, version, values: {}, repositoryOpts: { repo: "https://istio-release.storage.googleapis.com/charts" } });
const fromOtherRepo = (chart: string, version: string) =>
    args("kubernetes:helm.sh/v3:Release", { chart, version, values: {}, repositoryOpts: { repo: "https://charts.example.com" } });

describe.each<[string, ResourceValidationPolicy, ResourceValidationArgs[], [ResourceValidationArgs, RegExp][]]>([
    [
        "LoadBalancer Services only for Istio gateways, internal unless public",
        p.loadBalancersOnlyForIstioGateways,
        [
            args("kubernetes:core/v1:Service", { metadata: { labels: { istio: "eastwestgateway" }, annotations: { "service.beta.kubernetes.io/azure-load-balancer-internal": "true" } }, spec: { type: "LoadBalancer" } }),
            args("kubernetes:core/v1:Service", { metadata: { labels: { istio: "ingressgateway" }, annotations: { "istio-multicluster/exposure": "public" } }, spec: { type: "LoadBalancer" } }),
            args("kubernetes:core/v1:Service", { metadata: { labels: { app: "web" } }, spec: { type: "ClusterIP" } }),
        ],
        [
            [args("kubernetes:core/v1:Service", { metadata: { labels: { app: "web" } }, spec: { type: "LoadBalancer" } }), /not an Istio gateway/],
            [args("kubernetes:core/v1:Service", { metadata: { labels: { istio: "ingressgateway" } }, spec: { type: "LoadBalancer" } }), /public load balancer/],
        ],
    ],
    [
        "gateway charts internal unless public",
        p.gatewayChartsInternalUnlessPublic,
        [
            release("gateway", "1.30.4", { service: { annotations: { "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal" } } }),
            release("gateway", "1.30.4", { service: { annotations: { "istio-multicluster/exposure": "public" } } }),
            release("gateway", "1.30.4", { service: { type: "ClusterIP" } }),
            release("istiod", "1.30.4"),
            fromOci("gateway", "1.31.1", { service: { annotations: { "istio-multicluster/exposure": "public" } } }),
        ],
        [
            [release("gateway", "1.30.4", { service: { annotations: {} } }), /would get a public load balancer/],
            // Whatever the source, the gateway chart is recognised.
            [fromOci("gateway", "1.31.1", { service: { annotations: {} } }), /would get a public load balancer/],
            [fromDir("gateway", "1.31.1", { service: { annotations: {} } }), /would get a public load balancer/],
            [release("gateway", "1.30.4", { service: { annotations: { "service.beta.kubernetes.io/azure-load-balancer-internal": "false" } } }), /public load balancer/],
        ],
    ],
    [
        "cacerts has the four keys",
        p.cacertsHasFourKeys,
        [
            args("kubernetes:core/v1:Secret", { metadata: { name: "cacerts" }, stringData: { "ca-cert.pem": "", "ca-key.pem": "", "root-cert.pem": "", "cert-chain.pem": "" } }),
            args("kubernetes:core/v1:Secret", { metadata: { name: "other" }, stringData: {} }),
        ],
        [[args("kubernetes:core/v1:Secret", { metadata: { name: "cacerts" }, data: { "ca-cert.pem": "", "ca-key.pem": "" } }), /lacks root-cert.pem, cert-chain.pem/]],
    ],
    [
        "Helm chart versions pinned",
        p.helmChartsPinned,
        [release("istiod", "1.30.4"), fromOci("istiod", "1.31.1"), fromDir("base", "1.31.1"), args("kubernetes:helm.sh/v4:Chart", { chart: "x", version: "v2.1.0" })],
        [
            [release("istiod", ""), /not pinned/],
            [release("istiod", "~1.30"), /not pinned/],
            [args("kubernetes:helm.sh/v4:Chart", { chart: "x" }), /not pinned/],
            [fromOci("istiod", ""), /not pinned/],
        ],
    ],
    [
        "no Kubernetes resource on a default provider",
        p.kubernetesExplicitProvider,
        // The SDK's helm.v3.Chart is a component: no provider of its own; what it renders carries the cluster's.
        [args("kubernetes:core/v1:Namespace", {}), args("aws:ec2/vpc:Vpc", {}, null), args("kubernetes:helm.sh/v3:Chart", { chart: "istiod", version: "1.31.1" }, null)],
        [
            [args("kubernetes:core/v1:Namespace", {}, null), /default Kubernetes provider/],
            [args("kubernetes:core/v1:Namespace", {}, { ...CLUSTER_PROVIDER, name: "default_4_34_2" }), /default Kubernetes provider/],
        ],
    ],
    [
        "AKS/EKS API endpoints not open to the world",
        p.apiServersNotOpenToTheWorld,
        [
            args("azure-native:containerservice:ManagedCluster", { apiServerAccessProfile: { authorizedIPRanges: ["203.0.113.0/24"] } }),
            args("azure-native:containerservice:ManagedCluster", { apiServerAccessProfile: { enablePrivateCluster: true } }),
            args("eks:index:Cluster", { endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24"] }),
            args("eks:index:Cluster", { endpointPublicAccess: false }),
            args("aws:eks/cluster:Cluster", { vpcConfig: { endpointPublicAccess: false } }),
        ],
        [
            [args("azure-native:containerservice:ManagedCluster", { apiServerAccessProfile: { authorizedIPRanges: ["0.0.0.0/0"] } }), /whole internet/],
            [args("azure-native:containerservice:ManagedCluster", {}), /no authorized IP ranges/],
            [args("eks:index:Cluster", { publicAccessCidrs: ["0.0.0.0/0"] }), /open to 0.0.0.0\/0/],
            [args("eks:index:Cluster", {}), /open to 0.0.0.0\/0/],
            [args("aws:eks/cluster:Cluster", { vpcConfig: { publicAccessCidrs: ["::/0"] } }), /open to 0.0.0.0\/0/],
        ],
    ],
    [
        "security groups never open 15012/15017/15443 to the world",
        p.istioPortsNotOpenToTheWorld,
        [
            args("aws:ec2/securityGroupRule:SecurityGroupRule", { type: "ingress", fromPort: 15012, toPort: 15017, protocol: "tcp", cidrBlocks: ["10.0.0.0/16"] }),
            args("aws:ec2/securityGroupRule:SecurityGroupRule", { type: "ingress", fromPort: 443, toPort: 443, protocol: "tcp", cidrBlocks: ["0.0.0.0/0"] }),
            args("aws:ec2/securityGroupRule:SecurityGroupRule", { type: "egress", fromPort: 0, toPort: 0, protocol: "-1", cidrBlocks: ["0.0.0.0/0"] }),
        ],
        [
            [args("aws:ec2/securityGroupRule:SecurityGroupRule", { type: "ingress", fromPort: 15443, toPort: 15443, protocol: "tcp", cidrBlocks: ["0.0.0.0/0"] }), /opens 15012\/15017\/15443/],
            [args("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", { fromPort: 15000, toPort: 16000, ipProtocol: "tcp", cidrIpv6: "::/0" }), /opens/],
            [args("aws:ec2/securityGroup:SecurityGroup", { ingress: [{ fromPort: 0, toPort: 0, protocol: "-1", cidrBlocks: ["0.0.0.0/0"] }] }), /opens/],
        ],
    ],
    [
        "Istio version supported",
        p.istioVersionSupported,
        // A chart named like Istio's from another repository is someone else's.
        [release("istiod", "1.30.4"), release("base", "1.31.1"), fromOci("gateway", "1.31.1"), fromDir("istiod", "1.30.5"), fromOtherRepo("gateway", "0.3.0")],
        [
            [release("istiod", "1.29.6"), /istiod 1\.29\.6 .* is not supported; use 1\.30\.0 or newer/],
            [release("gateway", "1.19.1"), /not supported/],
            [fromOci("base", "1.28.2"), /not supported/],
            [fromDir("istiod", "1.29.0"), /not supported/],
            // The retired repository: charts gone in December 2026 (and never 1.31).
            [fromLegacyRepo("istiod", "1.30.4"), /empties in December 2026; use https:\/\/blob\.istio\.io\/istio-release\/charts/],
        ],
    ],
])("%s", (_name, policy, passing, failing) => {
    test("passes good resources", async () => {
        for (const a of passing) expect(await violations(policy, a)).toEqual([]);
    });
    test("flags bad ones", async () => {
        for (const [a, message] of failing) {
            const found = await violations(policy, a);
            expect(found).toHaveLength(1);
            expect(found[0]).toMatch(message);
        }
    });
});

test("every policy is in the pack; all mandatory but the open API servers, advisory unless policy/strict.json says otherwise", () => {
    expect(p.policies).toHaveLength(8);
    expect(new Set(p.policies.map((x) => x.name)).size).toBe(8);
    for (const x of p.policies) expect([x.name, x.enforcementLevel]).toEqual([x.name, x.name === "api-servers-not-open-to-the-world" ? "advisory" : "mandatory"]);
    // The pack config that tightens it (`--policy-pack-config policy/strict.json`, or the action's policyPackConfigs)
    // names a policy that exists and a level Pulumi knows.
    const strict = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "policy", "strict.json"), "utf8"));
    expect(strict).toEqual({ "api-servers-not-open-to-the-world": "mandatory" });
});

async function programViolations(config: Record<string, unknown>): Promise<string[]> {
    return policyViolations((await runProgram(config)).resources);
}

test("the program's own graph passes every policy when its gateways are marked public", async () => {
    expect(await programViolations(existingStack(THREE_CLUSTERS_TWO_NETWORKS, { eastWestLoadBalancer: "public" }))).toEqual([]);
});

test("existing clusters asked for internal gateways without an annotation saying how never reach the policy: the program refuses them", async () => {
    // No cloud to map "internal" to: the user's eastWestServiceAnnotations must (stacks/existing.ts), before anything is declared.
    const { error, resources } = await runProgramExpectingError(existingStack(THREE_CLUSTERS_TWO_NETWORKS, { eastWestLoadBalancer: "internal" }));
    expect(resources.filter((r) => r.custom)).toEqual([]);
    expect(error.message).toMatch(/clusters\[0\]\.eastWestServiceAnnotations: eastWestLoadBalancer is internal/);
});
