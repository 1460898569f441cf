/**
 * The azure stack from Pulumi.azure.yaml under mocks that answer like Azure: what is declared on Azure,
 * how the clusters plug into the mesh, and the dependency graph `pulumi destroy` walks backwards.
 */
import { parse } from "yaml";
import { policyViolations as policiesOver } from "../support/policyRun";
import { Declared, RunResult, dependsOn, isSecret, ofType, one, plain, providerUrn, runProgram } from "../support/harness";
import { loadStackConfig } from "../support/stackConfig";
import { AzureMockRecord, LOCATION, RESOURCE_GROUP, SUBSCRIPTION, T, aksAzureName, aksFqdn, azureMocks, newRecord } from "../support/cloudMocks";

// ---- mocks (test/support/cloudMocks.ts) ---------------------------------------------------------------------

const azureStack = (overrides: Record<string, unknown> = {}) => loadStackConfig("azure", { "azure-native:location": LOCATION, ...overrides });

/** Pulumi.azure.yaml's clusters section, for variations of it. */
const seedClusters = (): Record<string, unknown>[] => JSON.parse(String(loadStackConfig("azure")["istio-multicluster:clusters"]));
const seedAzure = (): Record<string, unknown> => JSON.parse(String(loadStackConfig("azure")["istio-multicluster:azure"]));

async function runAzure(overrides: Record<string, unknown> = {}) {
    const record = newRecord();
    const run = await runProgram(azureStack(overrides), azureMocks(record));
    return { run, record };
}

const CLUSTERS = [
    { name: "cluster1", network: "network1", subnet: "10.1.1.0/24", pods: "10.244.0.0/16", services: "10.100.0.0/16", dns: "10.100.0.10" },
    { name: "cluster2", network: "network2", subnet: "10.1.2.0/24", pods: "10.245.0.0/16", services: "10.101.0.0/16", dns: "10.101.0.10" },
];

const byName = (run: RunResult, type: string, name: string) => one(run.resources, (r) => r.type === type && r.name === name, `${type} ${name}`);
const aksOf = (run: RunResult, cluster: string) => byName(run, T.aks, `aks-${cluster}`);
const subnetOf = (run: RunResult, cluster: string) => byName(run, T.subnet, `snet-${cluster}`);
const providerOf = (run: RunResult, cluster: string) => byName(run, T.k8sProvider, `${cluster}-k8s`);
const inCluster = (run: RunResult, cluster: string, rs: Declared[]) => rs.filter((r) => providerUrn(r) === providerOf(run, cluster).urn);
const kubernetesResources = (run: RunResult) => run.resources.filter((r) => r.type.startsWith("kubernetes:"));

describe("azure stack from Pulumi.azure.yaml", () => {
    let run: RunResult;
    let record: AzureMockRecord;
    beforeAll(async () => {
        ({ run, record } = await runAzure());
    });

    test("the committed stack file is the seed's topology", () => {
        const file = loadStackConfig("azure");
        expect(file["istio-multicluster:platform"]).toBe("azure");
        expect(file["istio-multicluster:meshId"]).toBe("mesh1");
        expect(JSON.parse(String(file["pulumi:disable-default-providers"]))).toEqual(["kubernetes"]);
        // Users pick the region; the stack file does not.
        expect(file["azure-native:location"]).toBeUndefined();
        expect(seedClusters().map((c) => [c.name, c.network, c.subnetCidr, c.nodeCount])).toEqual([
            ["cluster1", "network1", "10.1.1.0/24", 3],
            ["cluster2", "network2", "10.1.2.0/24", 3],
        ]);
    });

    test("one resource group and one VNet holding both subnets, in the configured location", () => {
        const rg = one(run.resources, (r) => r.type === T.resourceGroup, "resource group");
        expect(rg.inputs.location).toBe(LOCATION);
        // Auto-named: Azure names get a per-stack suffix kept in state, no UNIQUEID.
        expect(rg.inputs.resourceGroupName).toBeUndefined();
        const vnet = one(run.resources, (r) => r.type === T.vnet, "virtual network");
        expect(vnet.inputs).toMatchObject({ resourceGroupName: RESOURCE_GROUP, location: LOCATION, addressSpace: { addressPrefixes: ["10.1.0.0/16"] } });
        expect(ofType(run.resources, T.subnet)).toHaveLength(2);
        for (const c of CLUSTERS) {
            const subnet = subnetOf(run, c.name);
            expect(subnet.inputs).toMatchObject({ resourceGroupName: RESOURCE_GROUP, virtualNetworkName: "vnet-multicluster0a0b0c0d", addressPrefix: c.subnet });
            expect(dependsOn(run.resources, subnet, vnet)).toBe(true);
        }
        // Azure rejects concurrent writes to one VNet: the second subnet waits for the first.
        expect(dependsOn(run.resources, subnetOf(run, "cluster2"), subnetOf(run, "cluster1"))).toBe(true);
    });

    test("each cluster: AKS on its own subnet with Azure CNI Overlay, its own pod and service ranges", () => {
        expect(ofType(run.resources, T.aks)).toHaveLength(2);
        for (const c of CLUSTERS) {
            const aks = aksOf(run, c.name);
            const inputs = plain(aks.inputs);
            expect(inputs.agentPoolProfiles).toHaveLength(1);
            expect(inputs.agentPoolProfiles[0]).toMatchObject({
                name: "system",
                mode: "System",
                count: 3,
                vmSize: "Standard_D2s_v5",
                vnetSubnetID: `snet-${c.name}-id`,
                orchestratorVersion: "1.35",
                osType: "Linux",
                type: "VirtualMachineScaleSets",
            });
            expect(inputs.networkProfile).toEqual({
                networkPlugin: "azure",
                networkPluginMode: "overlay",
                podCidr: c.pods,
                serviceCidr: c.services,
                dnsServiceIP: c.dns,
                loadBalancerSku: "standard",
                outboundType: "loadBalancer",
            });
            expect(inputs).toMatchObject({
                resourceGroupName: RESOURCE_GROUP,
                location: LOCATION,
                kubernetesVersion: "1.35",
                identity: { type: "SystemAssigned" },
                enableRBAC: true,
                disableLocalAccounts: false,
                sku: { name: "Base", tier: "Free" },
                dnsPrefix: `test-${c.name}`,
            });
            // No authorized ranges configured: the AKS default (open API server), nothing sent.
            expect(inputs.apiServerAccessProfile).toBeUndefined();
            expect(inputs.resourceName).toBeUndefined();
            expect(dependsOn(run.resources, aks, subnetOf(run, c.name))).toBe(true);
        }
        const pods = CLUSTERS.map((c) => plain(aksOf(run, c.name).inputs).networkProfile.podCidr);
        expect(new Set(pods).size).toBe(2);
    });

    test("the cluster identity is Network Contributor on its own subnet", () => {
        const assignments = ofType(run.resources, T.roleAssignment).filter((r) => r.name.endsWith("subnet-network-contributor"));
        expect(assignments).toHaveLength(2);
        for (const c of CLUSTERS) {
            const ra = byName(run, T.roleAssignment, `aks-${c.name}-subnet-network-contributor`);
            expect(ra.inputs).toEqual({
                principalId: `principal-of-aks-${c.name}`,
                principalType: "ServicePrincipal",
                roleDefinitionId: `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7`,
                scope: `snet-${c.name}-id`,
            });
            expect(dependsOn(run.resources, ra, aksOf(run, c.name))).toBe(true);
        }
    });

    test("the credentials lookup gets each cluster's outputs (resource group and Azure name), not literal names", () => {
        expect(record.credentialCalls).toHaveLength(2);
        expect(record.credentialCalls).toEqual(
            expect.arrayContaining(CLUSTERS.map((c) => ({ resourceGroupName: RESOURCE_GROUP, resourceName: aksAzureName(`aks-${c.name}`) }))),
        );
    });

    test("each Kubernetes provider gets its cluster's decoded user kubeconfig, as a secret, and the AKS id as identity", () => {
        for (const c of CLUSTERS) {
            const provider = providerOf(run, c.name);
            expect(isSecret(provider.inputs.kubeconfig)).toBe(true);
            const kubeconfig = parse(plain(provider.inputs.kubeconfig));
            expect(kubeconfig.clusters[0]).toMatchObject({ name: aksAzureName(`aks-${c.name}`), cluster: { server: `https://${aksFqdn(`aks-${c.name}`)}:443` } });
            expect(plain(provider.inputs.clusterIdentifier)).toBe(`aks-${c.name}-id`);
            expect(dependsOn(run.resources, provider, aksOf(run, c.name))).toBe(true);
            expect(dependsOn(run.resources, provider, aksOf(run, c.name === "cluster1" ? "cluster2" : "cluster1"))).toBe(false);
        }
    });

    test("every Kubernetes resource is on the right cluster's provider", () => {
        const k8s = kubernetesResources(run);
        expect(k8s.length).toBeGreaterThan(15);
        const providers = new Map(CLUSTERS.map((c) => [providerOf(run, c.name).urn, c.name]));
        for (const r of k8s) expect({ name: r.name, cluster: providers.get(providerUrn(r)) }).toEqual({ name: r.name, cluster: expect.any(String) });
        for (const c of CLUSTERS) {
            for (const r of k8s.filter((r) => r.name.startsWith(`mesh-${c.name}-`) && !r.name.includes("-to-"))) {
                expect({ name: r.name, cluster: providers.get(providerUrn(r)) }).toEqual({ name: r.name, cluster: c.name });
            }
        }
        for (const c of CLUSTERS) {
            const istiod = one(inCluster(run, c.name, ofType(run.resources, T.release)), (r) => r.inputs.chart === "istiod", `istiod in ${c.name}`);
            expect(plain(istiod.inputs).values.global).toEqual({ hub: "docker.io/istio", tag: "1.31.1", meshID: "mesh1", multiCluster: { clusterName: c.name }, network: c.network });
        }
    });

    test("istio-system is labelled network1 and network2", () => {
        for (const c of CLUSTERS) {
            const ns = one(inCluster(run, c.name, ofType(run.resources, T.namespace)), (r) => plain(r.inputs).metadata.name === "istio-system", `istio-system in ${c.name}`);
            expect(plain(ns.inputs).metadata.labels).toEqual({ "topology.istio.io/network": c.network });
        }
    });

    test("both east-west gateways sit behind an internal Azure load balancer", () => {
        for (const c of CLUSTERS) {
            const gateway = one(inCluster(run, c.name, ofType(run.resources, T.release)), (r) => r.inputs.name === "istio-eastwestgateway", `east-west gateway in ${c.name}`);
            const values = plain(gateway.inputs).values;
            expect(values.networkGateway).toBe(c.network);
            expect(values.service.annotations).toEqual({ "service.beta.kubernetes.io/azure-load-balancer-internal": "true" });
        }
    });

    test("remote secrets in both directions, pointing at the other cluster's AKS API server", () => {
        const remote = ofType(run.resources, T.secret).filter((r) => plain(r.inputs).metadata?.labels?.["istio/multiCluster"] === "true");
        expect(remote).toHaveLength(2);
        for (const [source, target] of [["cluster1", "cluster2"], ["cluster2", "cluster1"]]) {
            const [secret] = inCluster(run, target, remote);
            const data = plain(secret.inputs).stringData;
            expect(Object.keys(data)).toEqual([source]);
            const kubeconfig = parse(data[source]);
            expect(kubeconfig.clusters[0].cluster.server).toBe(`https://${aksFqdn(`aks-${source}`)}:443`);
            expect(kubeconfig.users[0].user.token).toEqual(expect.stringContaining("istio-reader-service-account"));
            expect(isSecret(secret.inputs.stringData[source]) || isSecret(secret.inputs.stringData)).toBe(true);
        }
    });

    test("destroy order: Kubernetes resources wait for their cluster, its subnet permission and its subnet", () => {
        for (const c of CLUSTERS) {
            const aks = aksOf(run, c.name);
            const subnetRole = byName(run, T.roleAssignment, `aks-${c.name}-subnet-network-contributor`);
            const provider = providerOf(run, c.name);
            // The provider is created after, and so deleted before, the cluster; the cluster before the subnet.
            expect(dependsOn(run.resources, provider, aks)).toBe(true);
            expect(dependsOn(run.resources, aks, subnetOf(run, c.name))).toBe(true);
            // Every Kubernetes resource uses its cluster's provider, so Pulumi deletes it before the provider,
            // the provider before the cluster, the cluster before its subnet: nothing else is needed.
            const mine = inCluster(run, c.name, kubernetesResources(run));
            expect(mine.length).toBeGreaterThan(8);
            for (const r of kubernetesResources(run).filter((r) => r.name.includes(c.name) && !r.name.includes("-to-"))) {
                expect({ name: r.name, provider: providerUrn(r) }).toEqual({ name: r.name, provider: provider.urn });
            }
            // The mesh waits for the cluster; only what makes a load balancer (the gateway releases, and what
            // waits for them) waits for the subnet permission an internal load balancer needs, so on destroy
            // those Services go before that permission, and nothing else is held back by it.
            const makesLoadBalancer = (r: (typeof mine)[number]) => r.type === T.release && r.inputs.chart === "gateway";
            for (const r of mine.filter((r) => r.name.startsWith("mesh-") && !r.read)) {
                expect({ name: r.name, aks: dependsOn(run.resources, r, aks), subnet: dependsOn(run.resources, r, subnetOf(run, c.name)) }).toEqual({
                    name: r.name,
                    aks: true,
                    subnet: true,
                });
                if (makesLoadBalancer(r)) expect(dependsOn(run.resources, r, subnetRole)).toBe(true);
                if (r.inputs.chart === "istiod" || r.inputs.chart === "base") expect(dependsOn(run.resources, r, subnetRole)).toBe(false);
            }
            const eastWest = one(mine, (r) => r.type === T.release && r.inputs.name === "istio-eastwestgateway", "east-west release");
            expect(dependsOn(run.resources, eastWest, subnetRole)).toBe(true);
        }
    });

    test("nothing on Azure is protected or ignores changes that matter: pulumi destroy can remove it all", () => {
        const azure = run.resources.filter((r) => r.type.startsWith("azure-native:"));
        expect(azure.length).toBeGreaterThanOrEqual(11);
        for (const r of azure) expect({ name: r.name, protect: r.protect }).toEqual({ name: r.name, protect: false });
        for (const r of azure.filter((r) => r.type !== T.vnet)) expect({ name: r.name, ignoreChanges: r.ignoreChanges }).toEqual({ name: r.name, ignoreChanges: [] });
        // The VNet ignores only its inline subnet list, which the separate Subnet resources own.
        expect(one(azure, (r) => r.type === T.vnet, "vnet").ignoreChanges).toEqual(["subnets"]);
    });

    test("what AKS cannot change on a running cluster makes the preview say replace, not a failing update", () => {
        for (const aks of run.resources.filter((r) => r.type === T.aks)) {
            expect([...aks.replaceOnChanges].sort()).toEqual(
                [
                    "agentPoolProfiles[*].vmSize",
                    "agentPoolProfiles[*].vnetSubnetID",
                    "networkProfile.dnsServiceIP",
                    "networkProfile.networkPlugin",
                    "networkProfile.networkPluginMode",
                    "networkProfile.podCidr",
                    "networkProfile.serviceCidr",
                ].sort(),
            );
            // Auto-named, so the replacement is created before the old cluster goes.
            expect(aks.deleteBeforeReplace).toBe(false);
            expect(aks.inputs.resourceName).toBeUndefined();
        }
    });

    test("a container registry (alphanumeric, per-stack name) the kubelet identities may pull from", () => {
        const registry = one(run.resources, (r) => r.type === T.registry, "registry");
        expect(registry.inputs).toMatchObject({ resourceGroupName: RESOURCE_GROUP, location: LOCATION, sku: { name: "Basic" }, adminUserEnabled: false });
        expect(registry.inputs.registryName).toMatch(/^acrmulticluster[0-9a-f]{10}$/);
        for (const c of CLUSTERS) {
            const pull = byName(run, T.roleAssignment, `acr-pull-${c.name}`);
            expect(pull.inputs).toEqual({
                principalId: `kubelet-of-aks-${c.name}`,
                principalType: "ServicePrincipal",
                roleDefinitionId: `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d`,
                scope: "acr-id",
            });
        }
    });

    test("no egress IPs when the API servers are not restricted", () => {
        expect(ofType(run.resources, T.publicIp)).toHaveLength(0);
    });

    test("components and the Azure resources under them", () => {
        const components = run.resources.filter((r) => r.type.startsWith("istio-multicluster:index:"));
        expect(components.filter((r) => r.type === "istio-multicluster:index:AzureNetwork")).toHaveLength(1);
        expect(components.filter((r) => r.type === "istio-multicluster:index:AksCluster").map((r) => r.name).sort()).toEqual(["aks-cluster1", "aks-cluster2"]);
        for (const c of CLUSTERS) {
            const component = byName(run, "istio-multicluster:index:AksCluster", `aks-${c.name}`);
            expect(aksOf(run, c.name).parent).toBe(component.urn);
            expect(byName(run, "istio-multicluster:index:Cluster", c.name).parent).toBe(component.urn);
        }
        const network = one(components, (r) => r.type === "istio-multicluster:index:AzureNetwork", "network");
        for (const type of [T.resourceGroup, T.vnet, T.subnet]) {
            for (const r of ofType(run.resources, type)) expect(r.parent).toBe(network.urn);
        }
    });

    test("stack outputs: resource group, cluster names, API servers, kubeconfigs (secret), east-west addresses", () => {
        const o = run.outputs as Record<string, any>;
        expect(o.clusterNames).toEqual(["cluster1", "cluster2"]);
        expect(o.apiServerUrls).toEqual(Object.fromEntries(CLUSTERS.map((c) => [c.name, `https://${aksFqdn(`aks-${c.name}`)}:443`])));
        expect(isSecret(o.kubeconfigs)).toBe(true);
        for (const c of CLUSTERS) expect(parse(plain(o.kubeconfigs)[c.name]).clusters[0].name).toBe(aksAzureName(`aks-${c.name}`));
        expect(Object.keys(o.eastWestGatewayAddresses).sort()).toEqual(["cluster1", "cluster2"]);
        expect(o.platform).toMatchObject({
            resourceGroupName: RESOURCE_GROUP,
            virtualNetworkName: "vnet-multicluster0a0b0c0d",
            aksClusterNames: { cluster1: aksAzureName("aks-cluster1"), cluster2: aksAzureName("aks-cluster2") },
            containerRegistryLoginServer: expect.stringMatching(/^acrmulticluster[0-9a-f]{10}\.azurecr\.io$/),
        });
    });
});

describe("azure stack variations", () => {
    test("eastWestLoadBalancer public: no internal-load-balancer annotation, marked public on purpose", async () => {
        const { run } = await runAzure({ "istio-multicluster:eastWestLoadBalancer": "public" });
        const gateways = ofType(run.resources, T.release).filter((r) => r.inputs.name === "istio-eastwestgateway");
        expect(gateways).toHaveLength(2);
        for (const g of gateways) expect(plain(g.inputs).values.service.annotations).toEqual({ "istio-multicluster/exposure": "public" });
    });

    test("authorized IP ranges: each cluster gets a static egress IP and every API server allows them all", async () => {
        const azure = { ...seedAzure(), apiServerAuthorizedIpRanges: ["203.0.113.0/24"] };
        const { run } = await runAzure({ "istio-multicluster:azure": JSON.stringify(azure) });
        const ips = ofType(run.resources, T.publicIp);
        expect(ips.map((r) => r.name).sort()).toEqual(["pip-egress-cluster1", "pip-egress-cluster2"]);
        for (const ip of ips) expect(ip.inputs).toMatchObject({ sku: { name: "Standard" }, publicIPAllocationMethod: "Static", location: LOCATION });
        for (const c of CLUSTERS) {
            const inputs = plain(aksOf(run, c.name).inputs);
            expect(inputs.apiServerAccessProfile).toEqual({ authorizedIPRanges: ["203.0.113.0/24", "20.1.1.1/32", "20.2.2.2/32"] });
            expect(inputs.networkProfile.loadBalancerProfile).toMatchObject({ outboundIPs: { publicIPs: [{ id: `pip-egress-${c.name}-id` }] } });
            const role = byName(run, T.roleAssignment, `aks-${c.name}-egress-ip-network-contributor`);
            expect(role.inputs).toMatchObject({ principalId: `principal-of-aks-${c.name}`, scope: `pip-egress-${c.name}-id` });
            // The other cluster's IP exists before this cluster: no cycle.
            const other = c.name === "cluster1" ? "cluster2" : "cluster1";
            expect(dependsOn(run.resources, aksOf(run, c.name), byName(run, T.publicIp, `pip-egress-${other}`))).toBe(true);
        }
        expect((run.outputs.platform as any).egressIps).toEqual({ cluster1: "20.1.1.1", cluster2: "20.2.2.2" });
    });

    test("no container registry when disabled; other settings reach AKS", async () => {
        const azure = { ...seedAzure(), containerRegistry: { enabled: false }, skuTier: "Standard" };
        const clusters = seedClusters().map((c, i) => ({ ...c, nodeCount: 5, vmSize: "Standard_D4s_v5", kubernetesVersion: "1.34.2", dnsServiceIp: `10.10${i}.0.53` }));
        const { run } = await runAzure({ "istio-multicluster:azure": JSON.stringify(azure), "istio-multicluster:clusters": JSON.stringify(clusters) });
        expect(ofType(run.resources, T.registry)).toHaveLength(0);
        expect(ofType(run.resources, T.roleAssignment).filter((r) => r.name.startsWith("acr-pull"))).toHaveLength(0);
        expect((run.outputs.platform as any).containerRegistryLoginServer).toBeUndefined();
        const inputs = plain(aksOf(run, "cluster2").inputs);
        expect(inputs.sku.tier).toBe("Standard");
        expect(inputs.kubernetesVersion).toBe("1.34.2");
        expect(inputs.agentPoolProfiles[0]).toMatchObject({ count: 5, vmSize: "Standard_D4s_v5", orchestratorVersion: "1.34.2" });
        expect(inputs.networkProfile.dnsServiceIP).toBe("10.101.0.53");
    });

    test("a bad config stops the program before anything is declared", async () => {
        const clusters = seedClusters().map((c) => ({ ...c, podCidr: "10.244.0.0/16" }));
        const record = newRecord();
        await expect(runProgram(azureStack({ "istio-multicluster:clusters": JSON.stringify(clusters) }), azureMocks(record))).rejects.toThrow(
            "istio-multicluster:clusters[1].podCidr: 10.244.0.0/16 overlaps clusters[0].podCidr 10.244.0.0/16",
        );
        expect(record.credentialCalls).toHaveLength(0);
    });

    test("without azure-native:location the program says how to set it", async () => {
        const saved = process.env.ARM_LOCATION;
        delete process.env.ARM_LOCATION;
        try {
            await expect(runProgram(loadStackConfig("azure"), azureMocks(newRecord()))).rejects.toThrow("pulumi config set azure-native:location");
        } finally {
            if (saved !== undefined) process.env.ARM_LOCATION = saved;
        }
    });

    test("ARM_LOCATION, which the provider also reads (and CI sets), is enough", async () => {
        const saved = process.env.ARM_LOCATION;
        process.env.ARM_LOCATION = "swedencentral";
        try {
            const run = await runProgram(loadStackConfig("azure"), azureMocks(newRecord()));
            for (const r of run.resources.filter((r) => [T.resourceGroup, T.vnet, T.aks, T.registry].includes(r.type as any))) {
                expect({ name: r.name, location: r.inputs.location }).toEqual({ name: r.name, location: "swedencentral" });
            }
        } finally {
            if (saved === undefined) delete process.env.ARM_LOCATION;
            else process.env.ARM_LOCATION = saved;
        }
    });
});

/** Every policy of the pack over what a run declared, as "policy: resource". */
const policyViolations = (run: RunResult) => policiesOver(run.resources);

describe("the policy pack on the azure stack", () => {
    test("as committed, only the open API servers are flagged (the AKS default; set apiServerAuthorizedIpRanges), as advisory", async () => {
        const { run } = await runAzure();
        expect(await policyViolations(run)).toEqual(["api-servers-not-open-to-the-world: aks-cluster1", "api-servers-not-open-to-the-world: aks-cluster2"]);
        expect(await policiesOver(run.resources, { level: "mandatory" })).toEqual([]);
    });

    test("the program says so too, in every preview", async () => {
        const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
        try {
            await runAzure();
            expect(warn.mock.calls.flat().join("\n")).toMatch(/istio-multicluster:azure\.apiServerAuthorizedIpRanges: empty, so the API servers of cluster1, cluster2 accept any address/);
        } finally {
            warn.mockRestore();
        }
    });

    test("with authorized IP ranges, and with public gateways, nothing is flagged", async () => {
        const azure = { ...seedAzure(), apiServerAuthorizedIpRanges: ["203.0.113.0/24"] };
        for (const lb of ["internal", "public"]) {
            const { run } = await runAzure({ "istio-multicluster:azure": JSON.stringify(azure), "istio-multicluster:eastWestLoadBalancer": lb });
            expect(await policyViolations(run)).toEqual([]);
        }
    });
});
