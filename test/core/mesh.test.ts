/**
 * The mesh core on existing clusters: three clusters on two networks, and two on one.
 */
import { parse } from "yaml";
import { Declared, RunResult, asDeclared, dependsOn, isSecret, ofType, one, plain, providerUrn, runProgram } from "../support/harness";
import { existingStack, FIELD_MANAGED, THREE_CLUSTERS_TWO_NETWORKS, TWO_CLUSTERS_ONE_NETWORK } from "../support/fixtures";
import { directKubernetesObjects, validateObject } from "../support/schemas";
import { gatewaySchemaTopLevel, unreadPaths } from "../support/chartValues";
import { checkMeshClusters } from "../../components/core/mesh";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const SECRET = "kubernetes:core/v1:Secret";
const NAMESPACE = "kubernetes:core/v1:Namespace";
const GATEWAY = "kubernetes:networking.istio.io/v1:Gateway";
const PROVIDER = "pulumi:providers:kubernetes";

const providerOf = (run: RunResult, cluster: string) => one(run.resources, (r) => r.type === PROVIDER && r.name === `${cluster}-k8s`, `provider of ${cluster}`);
const release = (run: RunResult, cluster: string, chart: string) =>
    one(run.resources, (r) => r.type === RELEASE && r.inputs.chart === chart && providerUrn(r) === providerOf(run, cluster).urn, `${chart} release in ${cluster}`);
const isEastWest = (r: Declared) => r.type === RELEASE && r.inputs.chart === "gateway" && r.inputs.name === "istio-eastwestgateway";
const eastWest = (run: RunResult, cluster: string) =>
    one(run.resources, (r) => isEastWest(r) && providerUrn(r) === providerOf(run, cluster).urn, `east-west gateway in ${cluster}`);
const crossNetworkGateways = (rs: Declared[]) => ofType(rs, GATEWAY).filter((r) => r.inputs.metadata?.name === "cross-network-gateway");
const inCluster = (run: RunResult, cluster: string, rs: Declared[]) => rs.filter((r) => providerUrn(r) === providerOf(run, cluster).urn);

describe("three clusters on two networks", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    });

    test("every Kubernetes resource has an explicit provider, and it is its cluster's", () => {
        const k8sResources = run.resources.filter((r) => r.type.startsWith("kubernetes:"));
        expect(k8sResources.length).toBeGreaterThan(20);
        const providerUrns = new Set(ofType(run.resources, PROVIDER).map((p) => p.urn));
        for (const r of k8sResources) {
            expect({ name: r.name, provider: providerUrn(r) }).toEqual({ name: r.name, provider: expect.stringMatching(/./) });
            expect(providerUrns.has(providerUrn(r))).toBe(true);
        }
        // Resources named after a cluster sit on that cluster's provider.
        for (const { name } of THREE_CLUSTERS_TWO_NETWORKS) {
            for (const r of k8sResources.filter((r) => r.name.startsWith(`mesh-${name}-`) && !r.name.includes("-to-"))) {
                expect({ name: r.name, provider: providerUrn(r) }).toEqual({ name: r.name, provider: providerOf(run, name).urn });
            }
        }
    });

    test("each cluster's provider applies server-side and updates Secrets in place (no delete-then-create of cacerts or remote secrets)", () => {
        for (const { name } of THREE_CLUSTERS_TWO_NETWORKS) {
            // Provider inputs reach the engine as strings.
            const inputs = plain(providerOf(run, name).inputs);
            expect({ name, enableServerSideApply: inputs.enableServerSideApply, enableSecretMutable: inputs.enableSecretMutable })
                .toEqual({ name, enableServerSideApply: "true", enableSecretMutable: "true" });
        }
    });

    test("istio-system carries each cluster's network label", () => {
        for (const { name, network } of THREE_CLUSTERS_TWO_NETWORKS) {
            const [ns] = inCluster(run, name, ofType(run.resources, NAMESPACE));
            // The stack's mark tells this istio-system from another mesh's (the preflight, components/core/istioPreflight.ts).
            expect(plain(ns.inputs).metadata).toEqual({ name: "istio-system", labels: { "topology.istio.io/network": network }, annotations: { "istio-multicluster/stack": "istio-multicluster/test", ...FIELD_MANAGED } });
        }
    });

    test("istiod gets mesh ID, cluster name and network, pinned to the configured version from the official repo", () => {
        for (const { name, network } of THREE_CLUSTERS_TWO_NETWORKS) {
            const istiod = plain(release(run, name, "istiod").inputs);
            // Images from docker.io/istio, pinned to the Istio version whatever the chart's own defaults say.
            expect(istiod.values.global).toEqual({ hub: "docker.io/istio", tag: "1.31.1", meshID: "mesh1", multiCluster: { clusterName: name }, network });
            expect(istiod.version).toBe("1.31.1");
            expect(istiod.repositoryOpts).toEqual({ repo: "https://blob.istio.io/istio-release/charts" });
            expect(istiod.namespace).toBe("istio-system");
            const base = plain(release(run, name, "base").inputs);
            expect(base.version).toBe("1.31.1");
            expect(base.repositoryOpts).toEqual({ repo: "https://blob.istio.io/istio-release/charts" });
        }
    });

    test("what we pass to Istio's charts is what the charts read", () => {
        for (const r of ofType(run.resources, RELEASE)) {
            const { chart, values, version } = plain(r.inputs);
            expect({ release: r.name, unread: unreadPaths(chart, values, version) }).toEqual({ release: r.name, unread: [] });
            if (chart === "gateway") {
                for (const key of Object.keys(values)) expect(gatewaySchemaTopLevel(version)).toContain(key);
            }
        }
    });

    test("install order: namespace, then cacerts and base, then istiod, then the gateway", () => {
        for (const { name } of THREE_CLUSTERS_TWO_NETWORKS) {
            const [ns] = inCluster(run, name, ofType(run.resources, NAMESPACE));
            const cacerts = one(inCluster(run, name, ofType(run.resources, SECRET)), (r) => r.inputs.metadata?.name === "cacerts", "cacerts");
            const base = release(run, name, "base");
            const istiod = release(run, name, "istiod");
            const gateway = eastWest(run, name);
            const [crossNetwork] = inCluster(run, name, crossNetworkGateways(run.resources));
            expect(dependsOn(run.resources, cacerts, ns)).toBe(true);
            expect(dependsOn(run.resources, base, ns)).toBe(true);
            expect(dependsOn(run.resources, istiod, base)).toBe(true);
            expect(dependsOn(run.resources, istiod, cacerts)).toBe(true);
            expect(dependsOn(run.resources, gateway, istiod)).toBe(true);
            expect(dependsOn(run.resources, crossNetwork, istiod)).toBe(true);
            // …and nothing waits for what it does not need: base does not wait for the CA.
            expect(dependsOn(run.resources, base, cacerts)).toBe(false);
        }
    });

    test("an east-west gateway per cluster, since the topology has two networks", () => {
        expect(run.resources.filter(isEastWest)).toHaveLength(3);
        for (const { name, network } of THREE_CLUSTERS_TWO_NETWORKS) {
            const values = plain(eastWest(run, name).inputs).values;
            // Public and marked so: existing clusters have no cloud to make them internal (test/support/fixtures.ts).
            expect(values).toEqual({ global: { hub: "docker.io/istio", tag: "1.31.1" }, name: "istio-eastwestgateway", networkGateway: network, service: { annotations: { "istio-multicluster/exposure": "public" } } });
            const [crossNetwork] = inCluster(run, name, crossNetworkGateways(run.resources));
            expect(plain(crossNetwork.inputs)).toEqual({
                apiVersion: "networking.istio.io/v1",
                kind: "Gateway",
                metadata: { name: "cross-network-gateway", namespace: "istio-system", annotations: FIELD_MANAGED },
                spec: {
                    selector: { istio: "eastwestgateway" },
                    servers: [{ port: { number: 15443, name: "tls", protocol: "TLS" }, tls: { mode: "AUTO_PASSTHROUGH" }, hosts: ["*.local"] }],
                },
            });
        }
        expect(Object.keys(run.outputs.eastWestGatewayAddresses as object).sort()).toEqual(["cluster1", "cluster2", "cluster3"]);
    });

    test("six remote secrets, one per ordered pair, in istioctl's format", () => {
        const remote = ofType(run.resources, SECRET).filter((r) => r.inputs.metadata?.name?.startsWith("istio-remote-secret-"));
        expect(remote).toHaveLength(6);
        const pairs = new Set<string>();
        for (const r of remote) {
            const { metadata, stringData, type } = plain(r.inputs);
            const source: string = metadata.annotations["networking.istio.io/cluster"];
            const target = THREE_CLUSTERS_TWO_NETWORKS.find((c) => providerUrn(r) === providerOf(run, c.name).urn)!.name;
            expect(source).not.toBe(target);
            pairs.add(`${source}->${target}`);
            expect(type).toBe("Opaque");
            expect(metadata).toEqual({
                name: `istio-remote-secret-${source}`,
                namespace: "istio-system",
                annotations: { "networking.istio.io/cluster": source, ...FIELD_MANAGED },
                labels: { "istio/multiCluster": "true" },
            });
            expect(Object.keys(stringData)).toEqual([source]);
            expect(isSecret(r.inputs.stringData) || isSecret(r.inputs.stringData[source])).toBe(true);

            const kubeconfig = parse(stringData[source]);
            expect(kubeconfig.clusters).toEqual([
                { name: source, cluster: { "certificate-authority-data": expect.any(String), server: `https://${source}.example.internal:6443` } },
            ]);
            expect(kubeconfig["current-context"]).toBe(source);
            expect(kubeconfig.contexts).toEqual([{ name: source, context: { cluster: source, user: source } }]);
            // A bearer token of the source's reader account, issued for this target: no exec, no client certificate.
            expect(kubeconfig.users).toEqual([{ name: source, user: { token: expect.stringContaining(`token-of-istio-reader-service-account-for-istio-reader-token-${target}`) } }]);
            // The CA is the source cluster's, as Kubernetes put it in the token Secret.
            expect(Buffer.from(kubeconfig.clusters[0].cluster["certificate-authority-data"], "base64").toString()).toBe(`ca-bundle-of-${source}-k8s-id`);
        }
        expect([...pairs].sort()).toEqual([
            "cluster1->cluster2", "cluster1->cluster3", "cluster2->cluster1", "cluster2->cluster3", "cluster3->cluster1", "cluster3->cluster2",
        ]);
    });

    test("reader tokens live in the source cluster, for Istio's reader account, once the base chart made it and the istiod chart its role", () => {
        const tokens = ofType(run.resources, SECRET).filter((r) => r.inputs.type === "kubernetes.io/service-account-token");
        expect(tokens).toHaveLength(6);
        for (const token of tokens) {
            const source = /^mesh-(.+)-to-(.+)-reader-token$/.exec(token.name)![1];
            expect(providerUrn(token)).toBe(providerOf(run, source).urn);
            expect(plain(token.inputs).metadata.annotations).toEqual({ "kubernetes.io/service-account.name": "istio-reader-service-account", ...FIELD_MANAGED });
            expect(dependsOn(run.resources, token, release(run, source, "base"))).toBe(true);
            // The istiod chart grants the reader its ClusterRole: without it the token only gets 403s.
            expect(dependsOn(run.resources, token, release(run, source, "istiod"))).toBe(true);
        }
    });

    test("secrets stay secret: cacerts, remote secrets and the kubeconfigs output", () => {
        const cacerts = ofType(run.resources, SECRET).filter((r) => r.inputs.metadata?.name === "cacerts");
        expect(cacerts).toHaveLength(3);
        for (const r of cacerts) {
            expect(isSecret(r.inputs.stringData)).toBe(true);
            expect(Object.keys(plain(r.inputs.stringData)).sort()).toEqual(["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
        }
        for (const p of ofType(run.resources, PROVIDER)) expect(isSecret(p.inputs.kubeconfig)).toBe(true);
        for (const k of ofType(run.resources, "tls:index/privateKey:PrivateKey")) expect(k.inputs.algorithm).toBe("RSA");
        expect(isSecret(run.outputs.kubeconfigs)).toBe(true);
        // No output carries a private key or a token in the clear.
        const plainOutputs = JSON.stringify(Object.fromEntries(Object.entries(run.outputs).filter(([, v]) => !isSecret(v))));
        expect(plainOutputs).not.toMatch(/PRIVATE KEY|token-of-|admin-token/);
    });

    test("every Kubernetes and Istio object declared directly matches its published schema", () => {
        const objects = directKubernetesObjects(run.resources);
        expect(objects.length).toBeGreaterThanOrEqual(3 + 3 + 6 + 6 + 3);
        for (const r of objects) validateObject(r);
    });

    test("stack outputs: cluster names and API server URLs", () => {
        expect(run.outputs.clusterNames).toEqual(["cluster1", "cluster2", "cluster3"]);
        expect(run.outputs.apiServerUrls).toEqual({
            cluster1: "https://cluster1.example.internal:6443",
            cluster2: "https://cluster2.example.internal:6443",
            cluster3: "https://cluster3.example.internal:6443",
        });
    });
});

describe("two clusters on one network", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { istioVersion: "1.30.5" }));
    });

    test("no east-west gateway and no cross-network Gateway", () => {
        expect(run.resources.filter(isEastWest)).toHaveLength(0);
        expect(crossNetworkGateways(run.resources)).toHaveLength(0);
        expect(run.outputs.eastWestGatewayAddresses).toEqual({});
    });

    test("two remote secrets, one each way", () => {
        const remote = ofType(run.resources, SECRET).filter((r) => r.inputs.metadata?.name?.startsWith("istio-remote-secret-"));
        expect(remote.map((r) => r.inputs.metadata.name).sort()).toEqual(["istio-remote-secret-cluster1", "istio-remote-secret-cluster2"]);
    });

    test("the chart version follows config (1.30.5, the older supported line), with values its charts read", () => {
        for (const r of ofType(run.resources, RELEASE)) {
            const { chart, values, version } = plain(r.inputs);
            expect(version).toBe("1.30.5");
            expect(unreadPaths(chart, values, version)).toEqual([]);
            // No failurePolicy override: Istio's webhooks start fail-open and istiod closes them once it serves
            // (forcing Fail raced istiod's webhook listener on a first up, found on the real engine).
            expect(values.base).toBeUndefined();
            if (chart === "istiod") expect(values.global).toMatchObject({ hub: "docker.io/istio", tag: "1.30.5" });
        }
    });
});

test("the chart-values check itself catches a misspelt key", () => {
    expect(unreadPaths("istiod", { global: { multicluster: { clusterName: "c1" } } }, "1.30.4")).toEqual(["global.multicluster.clusterName"]);
    expect(unreadPaths("base", { base: { validationFailurePolicy: "Fail" } }, "1.29.1")).toEqual(["base.validationFailurePolicy"]);
    expect(unreadPaths("gateway", { service: { annotations: { a: "b" } }, networkGateway: "n" }, "1.30.4")).toEqual([]);
    // The chart is found by name whatever the source.
    expect(unreadPaths("oci://ghcr.io/istio/release/charts/istiod", { global: { hubb: "x" } }, "1.31.1")).toEqual(["global.hubb"]);
    expect(gatewaySchemaTopLevel("1.31.1")).toContain("dnsPolicy");
    expect(gatewaySchemaTopLevel("1.30.5")).not.toContain("dnsPolicy");
});

test("the schema check itself rejects a malformed object and an unknown kind", () => {
    const declared = (type: string, inputs: Record<string, unknown>): Declared => asDeclared(type, "bad", inputs);
    expect(() =>
        validateObject(declared(GATEWAY, { metadata: { name: "g" }, spec: { servers: [{ port: { number: "15443", name: "tls", protocol: "TLS" }, hosts: ["*.local"] }] } })),
    ).toThrow(/Gateway bad does not match its schema/);
    expect(() => validateObject(declared(SECRET, { metadata: { name: "s" }, data: { token: 42 } }))).toThrow(/does not match/);
    expect(() => validateObject(declared("kubernetes:example.com/v1:Widget", { metadata: { name: "w" } }))).toThrow(/no schema registered/);
});

test("Mesh checks clusters that arrive as plain objects (from other languages) as a Cluster would", () => {
    const c = (clusterName: string, network = "n1", ipFamily?: string) => ({ clusterName, network, ipFamily });
    expect(() => checkMeshClusters([c("a"), c("b", "n2", "ipv6")])).not.toThrow();
    expect(() => checkMeshClusters([])).toThrow("Mesh needs at least one cluster");
    expect(() => checkMeshClusters([c("a"), c("a", "n2"), c("", ""), c("d", "n1", "IPv6")])).toThrow(
        'Mesh: clusters[2].clusterName is empty; clusters[2].network is empty; clusters[3].ipFamily must be ipv4 or ipv6, got "IPv6"; cluster name "a" is used twice; Istio cluster IDs must be unique',
    );
});
