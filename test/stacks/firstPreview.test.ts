/**
 * The first `pulumi preview` of a stack that was never deployed (what the PR workflow runs), under mocks that
 * answer as the providers do in that case (test/support/previewModel.ts): the committed `azure` and `aws` stacks and
 * an existing-clusters stack complete, declare what a deployment declares, and show unknown exactly what the
 * clouds have not computed yet.
 */
import { RunResult, UNKNOWN_OUTPUT, isSecret, plain, runComponents, runFirstPreview, runProgram } from "../support/harness";
import { LOCATION, REGION, awsMocks, azureMocks, newRecord } from "../support/cloudMocks";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";
import { loadStackConfig } from "../support/stackConfig";
import { UNKNOWN, firstPreviewReply, inputsWithComputedUnknown } from "../support/previewModel";
import { policyViolations } from "../support/policyRun";

const U = UNKNOWN_OUTPUT;
/** The URNs a run declared, reads apart. */
const declared = (run: RunResult) => run.resources.filter((r) => !r.read).map((r) => r.urn).sort();
const secretValue = (v: unknown) => (isSecret(v) ? plain(v) : v);

describe("the preview model", () => {
    test("azure-native: read-only properties nested in an input object, and top-level outputs, are unknown", () => {
        const inputs = { resourceName: undefined, identity: { type: "SystemAssigned" }, dnsPrefix: "p" };
        const created = { ...inputs, name: "aks1", identity: { type: "SystemAssigned", principalId: "p1", tenantId: "t" }, fqdn: "x.azmk8s.io" };
        expect(inputsWithComputedUnknown(inputs, created)).toEqual({
            resourceName: undefined,
            identity: { type: "SystemAssigned", principalId: UNKNOWN, tenantId: UNKNOWN },
            dnsPrefix: "p",
            name: UNKNOWN,
            fqdn: UNKNOWN,
        });
    });

    test("kubernetes: inputs only (no status); a Helm release's status unknown; a read with an unknown id reads nothing; components say nothing", () => {
        const svc = { metadata: { name: "s" }, spec: { type: "LoadBalancer" } };
        expect(firstPreviewReply({ type: "kubernetes:core/v1:Service", inputs: svc, created: { ...svc, status: { loadBalancer: {} } }, custom: true })).toEqual({ id: undefined, state: svc });
        expect(firstPreviewReply({ type: "kubernetes:helm.sh/v3:Release", inputs: { chart: "istiod" }, created: { chart: "istiod", status: { version: "1" } }, custom: true }).state).toEqual({
            chart: "istiod",
            status: UNKNOWN,
            resourceNames: UNKNOWN,
        });
        expect(firstPreviewReply({ type: "kubernetes:core/v1:Service", inputs: {}, created: { status: {} }, custom: true, id: UNKNOWN })).toEqual({ id: undefined, state: {} });
        expect(firstPreviewReply({ type: "eks:index:Cluster", inputs: { name: "c" }, created: { name: "c", kubeconfig: {} }, custom: false })).toEqual({ id: undefined, state: {} });
    });
});

test("the harness does catch a program that needs an apply to run in a preview", async () => {
    // Declaring a resource inside an apply on a cloud-computed value: deployed, it exists; previewed, it is missing.
    const build = async () => {
        const pulumi = await import("@pulumi/pulumi");
        const tls = await import("@pulumi/tls");
        const key = new tls.PrivateKey("key", { algorithm: "ED25519" });
        const names = key.publicKeyPem.apply((pem) => {
            new tls.PrivateKey(`inside-${pem.length > 0 ? "apply" : "x"}`, { algorithm: "ED25519" });
            return pem.length;
        });
        return { length: names, known: pulumi.output("config value") };
    };
    const deployedRun = await runComponents(build);
    const previewRun = await runComponents(build, { firstPreview: true });
    expect(declared(deployedRun)).toHaveLength(2);
    expect(declared(previewRun)).toHaveLength(1);
    expect(previewRun.outputs).toEqual({ length: U, known: "config value" });
});

describe("azure stack from Pulumi.azure.yaml", () => {
    let preview: RunResult;
    let deployed: RunResult;
    beforeAll(async () => {
        const config = loadStackConfig("azure", { "azure-native:location": LOCATION });
        preview = await runFirstPreview(config, azureMocks(newRecord()));
        deployed = await runProgram(config, azureMocks(newRecord()));
    });

    test("completes, declaring everything a deployment declares", () => {
        expect(declared(preview)).toEqual(declared(deployed));
    });

    test("passes the policy pack as the PR workflow runs it: nothing mandatory; the open API servers flagged (advisory), naming the setting", async () => {
        expect(await policyViolations(preview.resources, { level: "mandatory" })).toEqual([]);
        expect(await policyViolations(preview.resources, { withMessages: true })).toEqual([
            "api-servers-not-open-to-the-world: aks-cluster1: AKS aks-cluster1: the API server is public with no authorized IP ranges; set istio-multicluster:azure.apiServerAuthorizedIpRanges or make the cluster private.",
            "api-servers-not-open-to-the-world: aks-cluster2: AKS aks-cluster2: the API server is public with no authorized IP ranges; set istio-multicluster:azure.apiServerAuthorizedIpRanges or make the cluster private.",
        ]);
    });

    test("the AKS identities are unknown, so nothing that needs them ran: the role assignments wait with unknown principals", () => {
        const aks = preview.resources.filter((r) => r.type === "azure-native:containerservice:ManagedCluster");
        expect(aks).toHaveLength(2);
        const assignments = preview.resources.filter((r) => r.type === "azure-native:authorization:RoleAssignment");
        expect(assignments.length).toBeGreaterThan(0);
        // An unknown input reaches the mocks as the engine's unknown value.
        for (const a of assignments) expect(preview.pulumi.isUnknown(a.inputs.principalId)).toBe(true);
    });

    test("what the stack shows unknown: everything Azure computes; what comes from config is known", () => {
        const o = preview.outputs as Record<string, any>;
        expect(o.clusterNames).toEqual(["cluster1", "cluster2"]);
        expect(o.apiServerUrls).toEqual({ cluster1: U, cluster2: U });
        expect(secretValue(o.kubeconfigs)).toEqual({ cluster1: U, cluster2: U });
        expect(o.eastWestGatewayAddresses).toBe(U);
        expect(o.rootCertPem).toBe(U);
        expect(o.platform).toEqual({ resourceGroupName: U, virtualNetworkName: U, aksClusterNames: { cluster1: U, cluster2: U }, containerRegistryLoginServer: U });
        expect(o.samples).toMatchObject({ helloworldVersions: { cluster1: ["v1"], cluster2: ["v2"] }, productpageUrl: U, verification: U });
        expect(o.samples.placement.cluster1.length).toBeGreaterThan(0);
    });
});

describe("aws stack from Pulumi.aws.yaml", () => {
    let preview: RunResult;
    let deployed: RunResult;
    beforeAll(async () => {
        const config = loadStackConfig("aws", { "aws:region": REGION });
        preview = await runFirstPreview(config, awsMocks());
        deployed = await runProgram(config, awsMocks());
    });

    test("completes, declaring everything a deployment declares", () => {
        expect(declared(preview)).toEqual(declared(deployed));
    });

    test("passes the policy pack as the PR workflow runs it: nothing mandatory; the open API endpoints flagged (advisory), naming the setting", async () => {
        expect(await policyViolations(preview.resources, { level: "mandatory" })).toEqual([]);
        const advisory = await policyViolations(preview.resources, { withMessages: true });
        expect(advisory.map((v) => v.split(": ").slice(0, 2).join(": "))).toEqual(["api-servers-not-open-to-the-world: eks-cluster-1-eks", "api-servers-not-open-to-the-world: eks-cluster-2-eks"]);
        for (const v of advisory) expect(v).toMatch(/set istio-multicluster:clusters\[\]\.publicAccessCidrs to your own addresses/);
    });

    test("what the stack shows unknown: the VPC, the EKS clusters and everything from them; config and invokes are known", () => {
        const o = preview.outputs as Record<string, any>;
        expect(o.clusterNames).toEqual(["cluster-1", "cluster-2"]);
        expect(o.apiServerUrls).toEqual({ "cluster-1": U, "cluster-2": U });
        expect(secretValue(o.kubeconfigs)).toEqual({ "cluster-1": U, "cluster-2": U });
        // One network: no east-west gateways, so nothing unknown there.
        expect(o.eastWestGatewayAddresses).toEqual({});
        expect(o.rootCertPem).toBe(U);
        expect(o.platform).toEqual({ vpcId: U, region: REGION, eksClusterNames: [U, U], apiEndpoints: { "cluster-1": U, "cluster-2": U } });
        expect(o.samples).toMatchObject({ productpageUrl: U, verification: U });
    });
});

describe("existing clusters (three, on two networks)", () => {
    let preview: RunResult;
    let deployed: RunResult;
    beforeAll(async () => {
        preview = await runFirstPreview(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
        deployed = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    });

    test("completes, declaring everything a deployment declares", () => {
        expect(declared(preview)).toEqual(declared(deployed));
    });

    test("the clusters come from config, so only what the CA and the gateways produce is unknown", () => {
        const o = preview.outputs as Record<string, any>;
        expect(o.clusterNames).toEqual(["cluster1", "cluster2", "cluster3"]);
        expect(o.apiServerUrls).toEqual({
            cluster1: "https://cluster1.example.internal:6443",
            cluster2: "https://cluster2.example.internal:6443",
            cluster3: "https://cluster3.example.internal:6443",
        });
        expect(isSecret(o.kubeconfigs)).toBe(true);
        expect(Object.values(plain(o.kubeconfigs)).every((k) => typeof k === "string" && k !== U)).toBe(true);
        expect(o.eastWestGatewayAddresses).toBe(U);
        expect(o.rootCertPem).toBe(U);
        // Nothing public on clusters the program did not make: the ingress is ClusterIP, so there is no URL to wait for.
        expect(o.samples).toMatchObject({ productpageUrl: "", verification: U });
    });
});
