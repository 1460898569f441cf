/**
 * Clusters you already have (`platform: existing`): which kubeconfig context is kept, the IP family, the east-west
 * gateway on clusters without a cloud (annotations, NodePort with its address), nothing public by default, and the
 * preflight that finds an Istio the stack does not own before anything is changed. Charts involved are rendered with
 * the real charts and real Helm (test/support/realCharts.ts).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse, stringify } from "yaml";
import { RunResult, dependsOn, isSecret, ofType, one, plain, providerUrn, runProgram, runProgramExpectingError, startProgram } from "../support/harness";
import { existingStack, kubeconfigFor, THREE_CLUSTERS_TWO_NETWORKS, TWO_CLUSTERS_ONE_NETWORK } from "../support/fixtures";
import { directKubernetesObjects, validateObject } from "../support/schemas";
import { renderChart, renderIstioChart, renderedObject } from "../support/realCharts";
import { preflightChartDir, preflightValues } from "../../components/core/istioPreflight";
import { meshNetworksFor } from "../../components/core/mesh";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const CHART_V4 = "kubernetes:helm.sh/v4:Chart";
const SERVICE = "kubernetes:core/v1:Service";
const PROVIDER = "pulumi:providers:kubernetes";
const RENDER_TIMEOUT = 15 * 60_000;

const providerOf = (run: RunResult, cluster: string) => one(run.resources, (r) => r.type === PROVIDER && r.name === `${cluster}-k8s`, `provider of ${cluster}`);
const releaseNamed = (run: RunResult, name: string) => one(run.resources, (r) => r.type === RELEASE && r.name === name, name);

async function refused(config: Record<string, unknown>): Promise<string> {
    const { error, resources } = await runProgramExpectingError(config);
    expect(resources.filter((r) => r.custom)).toEqual([]);
    return error.message;
}

/** A kubeconfig file with two contexts, as kind writes one for two clusters. */
function twoContextKubeconfig(otherToken: string): string {
    const kc = (name: string, token: string) => parse(kubeconfigFor(name, `https://${name}.example.internal:6443`).replace(`admin-token-of-${name}`, token));
    const a = kc("kind-east", "token-of-east");
    const b = kc("kind-west", otherToken);
    return stringify({ apiVersion: "v1", kind: "Config", clusters: [...a.clusters, ...b.clusters], contexts: [...a.contexts, ...b.contexts], users: [...a.users, ...b.users], "current-context": "kind-west" });
}

describe("clusters[].kubeconfigContext: only that context is kept", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kc-two-"));
    const file = path.join(dir, "config");
    const stack = () =>
        existingStack([], {
            clusters: [
                { name: "east", network: "n1", kubeconfigPath: file, kubeconfigContext: "kind-east" },
                { name: "c2", network: "n1", kubeconfig: kubeconfigFor("c2") },
            ],
        });
    let first: RunResult;
    let second: RunResult;
    beforeAll(async () => {
        fs.writeFileSync(file, twoContextKubeconfig("token-of-west-v1"));
        first = await runProgram(stack());
        // Someone refreshes the other cluster's credentials in the same file.
        fs.writeFileSync(file, twoContextKubeconfig("token-of-west-v2"));
        second = await runProgram(stack());
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test("the provider and the kubeconfigs output hold that context, its cluster and its user, and nothing else", () => {
        const kc = parse(plain(providerOf(first, "east").inputs.kubeconfig));
        expect(kc["current-context"]).toBe("kind-east");
        expect(kc.contexts.map((c: { name: string }) => c.name)).toEqual(["kind-east"]);
        expect(kc.clusters.map((c: { name: string }) => c.name)).toEqual(["kind-east"]);
        expect(kc.users).toEqual([{ name: "kind-east", user: { token: "token-of-east" } }]);
        expect(providerOf(first, "east").inputs.context).toBeUndefined();
        expect(isSecret(first.outputs.kubeconfigs)).toBe(true);
        expect(parse((plain(first.outputs.kubeconfigs) as Record<string, string>).east)).toEqual(kc);
    });

    test("the other context's credentials reach no resource and no output", () => {
        expect(JSON.stringify(first.resources.map((r) => plain(r.inputs)))).not.toContain("token-of-west");
        expect(JSON.stringify(plain(first.outputs))).not.toContain("token-of-west");
    });

    test("editing the other context changes nothing the program declares", () => {
        const inputs = (run: RunResult) => run.resources.filter((r) => !r.type.startsWith("tls:")).map((r) => [r.urn, plain(r.inputs)]);
        expect(inputs(second)).toEqual(inputs(first));
        expect(plain(second.outputs.kubeconfigs)).toEqual(plain(first.outputs.kubeconfigs));
    });

    test("a context the file does not have is named with the ones it has", async () => {
        const msg = await refused(existingStack([], { clusters: [{ name: "east", network: "n1", kubeconfigPath: file, kubeconfigContext: "kind-north" }] }));
        expect(msg).toMatch(/clusters\[0\]\.kubeconfigContext: not a usable kubeconfig \(kubeconfig has no context "kind-north" \(it has "kind-east", "kind-west"\)\)/);
    });

    test("the old name `context` is refused with the new one suggested", async () => {
        const msg = await refused(existingStack([], { clusters: [{ name: "east", network: "n1", kubeconfigPath: file, context: "kind-east" }] }));
        expect(msg).toMatch(/clusters\[0\]\.context: unknown setting; did you mean "kubeconfigContext"\?/);
    });
});

describe("clusters[].ipFamily on existing clusters", () => {
    test("an IPv6 cluster's istiod lets sidecars reach IPv4 destinations; an IPv4 one is as before", async () => {
        const config = existingStack(TWO_CLUSTERS_ONE_NETWORK);
        (config.clusters as Record<string, unknown>[])[1].ipFamily = "ipv6";
        const run = await runProgram(config);
        expect(plain(releaseNamed(run, "mesh-cluster2-istiod").inputs).values.env).toEqual({ ISTIO_ENABLE_IPV4_OUTBOUND_LISTENER_FOR_IPV6_CLUSTERS: "true" });
        expect(plain(releaseNamed(run, "mesh-cluster1-istiod").inputs).values.env).toBeUndefined();
    });

    test("anything but ipv4 or ipv6 is refused", async () => {
        const config = existingStack(TWO_CLUSTERS_ONE_NETWORK);
        (config.clusters as Record<string, unknown>[])[0].ipFamily = "IPv6";
        expect(await refused(config)).toMatch(/clusters\[0\]\.ipFamily: must be ipv4 or ipv6/);
    });
});

describe("the east-west gateway on clusters the program did not make", () => {
    const INTERNAL = { "networking.gke.io/load-balancer-type": "Internal" };

    test("eastWestLoadBalancer internal (the default) means the user's annotations: without them it is refused, naming each cluster", async () => {
        const msg = await refused(existingStack(THREE_CLUSTERS_TWO_NETWORKS, { eastWestLoadBalancer: "internal" }));
        for (const i of [0, 1, 2]) expect(msg).toContain(`istio-multicluster:clusters[${i}].eastWestServiceAnnotations: eastWestLoadBalancer is internal`);
        const { eastWestLoadBalancer: _default, ...defaulted } = existingStack(THREE_CLUSTERS_TWO_NETWORKS);
        expect(await refused(defaulted)).toMatch(/eastWestServiceAnnotations: eastWestLoadBalancer is internal, but cluster1 was not made by the program/);
    });

    test("with the user's internal annotations the gateway Service gets exactly those; one network needs no gateway and nothing is asked", async () => {
        const config = existingStack(THREE_CLUSTERS_TWO_NETWORKS, { eastWestLoadBalancer: "internal" });
        for (const c of config.clusters as Record<string, unknown>[]) c.eastWestServiceAnnotations = INTERNAL;
        const run = await runProgram(config);
        for (const { name } of THREE_CLUSTERS_TWO_NETWORKS) {
            expect(plain(releaseNamed(run, `mesh-${name}-eastwest-release`).inputs).values.service).toEqual({ annotations: INTERNAL });
        }
        const { eastWestLoadBalancer: _default, ...oneNetwork } = existingStack(TWO_CLUSTERS_ONE_NETWORK);
        expect((await runProgram(oneNetwork)).resources.filter((r) => r.type === RELEASE && r.inputs.name === "istio-eastwestgateway")).toEqual([]);
    });

    describe("eastWestServiceType NodePort", () => {
        const nodePortStack = () => {
            const config = existingStack(THREE_CLUSTERS_TWO_NETWORKS, { eastWestLoadBalancer: "internal" });
            const clusters = config.clusters as Record<string, unknown>[];
            // network1 (cluster1, cluster2) on node ports; cluster3 on an internal load balancer of its own.
            Object.assign(clusters[0], { eastWestServiceType: "NodePort", eastWestGatewayAddress: "172.18.0.2" });
            Object.assign(clusters[1], { eastWestServiceType: "NodePort", eastWestGatewayAddress: "cluster2-nodes.lab.example", eastWestNodePort: 30443 });
            Object.assign(clusters[2], { eastWestServiceAnnotations: INTERNAL });
            return config;
        };
        let run: RunResult;
        beforeAll(async () => {
            run = await runProgram(nodePortStack());
        });

        test("the chart renders no Service; a NodePort Service puts 15443 on the fixed node port, selecting the gateway's pods", () => {
            for (const [cluster, nodePort] of [["cluster1", 31443], ["cluster2", 30443]] as const) {
                expect(plain(releaseNamed(run, `mesh-${cluster}-eastwest-release`).inputs).values.service).toEqual({ type: "None" });
                const service = one(run.resources, (r) => r.type === SERVICE && !r.read && providerUrn(r) === providerOf(run, cluster).urn && r.inputs.metadata?.name === "istio-eastwestgateway", "NodePort Service");
                expect(plain(service.inputs).spec).toEqual({
                    type: "NodePort",
                    selector: { app: "istio-eastwestgateway", istio: "eastwestgateway" },
                    ports: [{ name: "tls", port: 15443, targetPort: 15443, nodePort, protocol: "TCP" }],
                });
                expect(plain(service.inputs).metadata.labels["topology.istio.io/network"]).toBe("network1");
                expect(dependsOn(run.resources, service, releaseNamed(run, `mesh-${cluster}-eastwest-release`))).toBe(true);
            }
            for (const r of directKubernetesObjects(run.resources)) validateObject(r);
        });

        test("every istiod learns the NodePort gateways from meshNetworks; the load-balancer cluster stays discovered", () => {
            const expected = {
                network1: {
                    endpoints: [{ fromRegistry: "cluster1" }, { fromRegistry: "cluster2" }],
                    gateways: [{ address: "172.18.0.2", port: 31443 }, { address: "cluster2-nodes.lab.example", port: 30443 }],
                },
            };
            for (const { name } of THREE_CLUSTERS_TWO_NETWORKS) expect(plain(releaseNamed(run, `mesh-${name}-istiod`).inputs).values.global.meshNetworks).toEqual(expected);
            expect(plain(releaseNamed(run, "mesh-cluster3-eastwest-release").inputs).values.service).toEqual({ annotations: INTERNAL });
            expect(run.outputs.eastWestGatewayAddresses).toMatchObject({ cluster1: "172.18.0.2", cluster2: "cluster2-nodes.lab.example" });
        });

        test("the real istiod chart writes meshNetworks into the mesh networks istiod reads; the real gateway chart makes no Service", () => {
            const istiod = renderIstioChart("1.31.1", "istiod", plain(releaseNamed(run, "mesh-cluster3-istiod").inputs).values, "istiod");
            const networks = parse(renderedObject(istiod, "ConfigMap", "istio").data.meshNetworks);
            expect(networks.networks.network1.gateways).toEqual([{ address: "172.18.0.2", port: 31443 }, { address: "cluster2-nodes.lab.example", port: 30443 }]);
            const gateway = renderIstioChart("1.31.1", "gateway", plain(releaseNamed(run, "mesh-cluster1-eastwest-release").inputs).values, "istio-eastwestgateway");
            expect(gateway.filter((o) => o.kind === "Service")).toEqual([]);
            expect(renderedObject(gateway, "Deployment", "istio-eastwestgateway").spec.template.metadata.labels).toMatchObject({ app: "istio-eastwestgateway", istio: "eastwestgateway" });
        }, RENDER_TIMEOUT);

        test("load balancers only: no meshNetworks, istiod values as before", () => {
            expect(meshNetworksFor(THREE_CLUSTERS_TWO_NETWORKS.map((c) => ({ clusterName: c.name, network: c.network })))).toBeUndefined();
            expect(meshNetworksFor([{ clusterName: "a", network: "n1", gatewayServiceType: "NodePort", gatewayAddress: "1.2.3.4" }])).toBeUndefined();
        });

        test("bad NodePort settings are refused, all in one run", async () => {
            const config = existingStack(THREE_CLUSTERS_TWO_NETWORKS);
            const clusters = config.clusters as Record<string, unknown>[];
            Object.assign(clusters[0], { eastWestServiceType: "NodePort" });
            Object.assign(clusters[1], { eastWestGatewayAddress: "10.0.0.1", eastWestNodePort: 31000 });
            Object.assign(clusters[2], { eastWestServiceType: "NodePort", eastWestGatewayAddress: "https://x:1", eastWestNodePort: 8443 });
            const msg = await refused(config);
            expect(msg).toContain("istio-multicluster:clusters[0].eastWestGatewayAddress: is required with eastWestServiceType NodePort");
            expect(msg).toContain("istio-multicluster:clusters[1].eastWestGatewayAddress: is only used with eastWestServiceType NodePort");
            expect(msg).toContain("istio-multicluster:clusters[1].eastWestNodePort: is only used with eastWestServiceType NodePort");
            expect(msg).toContain("istio-multicluster:clusters[2].eastWestGatewayAddress: must be an IP address or a DNS name");
            expect(msg).toContain("istio-multicluster:clusters[2].eastWestNodePort: must be a node port from 30000 to 32767");
        });
    });
});

describe("Pulumi.kind.yaml, the laptop example of docs/existing-clusters.md", () => {
    test("its config is accepted as it is and builds NodePort gateways the other kind cluster reaches by container name", async () => {
        const { loadStackConfig } = await import("../support/stackConfig");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kind-"));
        const file = path.join(dir, "config");
        // What `kind create cluster --name east` and `--name west` leave in ~/.kube/config.
        const kc = (name: string, port: number) => parse(kubeconfigFor(`kind-${name}`, `https://127.0.0.1:${port}`));
        const [east, west] = [kc("east", 40001), kc("west", 40002)];
        fs.writeFileSync(file, stringify({ apiVersion: "v1", kind: "Config", clusters: [...east.clusters, ...west.clusters], contexts: [...east.contexts, ...west.contexts], users: [...east.users, ...west.users], "current-context": "kind-west" }));
        try {
            const config = loadStackConfig("kind");
            const clusters = (JSON.parse(config["istio-multicluster:clusters"] as string) as Record<string, unknown>[]).map((c) => ({ ...c, kubeconfigPath: file }));
            const run = await runProgram({ ...config, "istio-multicluster:clusters": JSON.stringify(clusters) });
            expect(run.outputs.apiServerUrls).toEqual({ east: "https://east-control-plane:6443", west: "https://west-control-plane:6443" });
            expect(plain(releaseNamed(run, "mesh-east-istiod").inputs).values.global.meshNetworks).toEqual({
                "east-net": { endpoints: [{ fromRegistry: "east" }], gateways: [{ address: "east-control-plane", port: 31443 }] },
                "west-net": { endpoints: [{ fromRegistry: "west" }], gateways: [{ address: "west-control-plane", port: 31443 }] },
            });
            expect(ofType(run.resources, CHART_V4)).toHaveLength(2);
            const ingress = one(run.resources, (r) => r.type === RELEASE && r.inputs.name === "istio-ingressgateway", "ingress");
            expect(plain(ingress.inputs).values.service.type).toBe("ClusterIP");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("nothing public by default on clusters the program did not make", () => {
    test("the samples' ingress is ClusterIP unless asked, and asking still works", async () => {
        const ingress = (run: RunResult) => plain(one(run.resources, (r) => r.type === RELEASE && r.inputs.name === "istio-ingressgateway", "ingress").inputs).values.service;
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK));
        expect(ingress(run)).toEqual({ type: "ClusterIP", annotations: {} });
        expect((run.outputs.samples as Record<string, unknown>).productpageUrl).toBe("");
        const asked = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { samples: { bookinfo: { ingressServiceType: "LoadBalancer" } } }));
        expect(ingress(asked)).toEqual({ type: "LoadBalancer", annotations: { "istio-multicluster/exposure": "public" } });
    });
});

describe("preflight: an Istio the stack does not own is found before anything is changed", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    });

    test("one preflight chart per cluster, on that cluster's provider, with the cluster, the namespace and this stack's mark", () => {
        const charts = ofType(run.resources, CHART_V4);
        expect(charts.map((c) => c.name).sort()).toEqual(["mesh-cluster1-preflight-chart", "mesh-cluster2-preflight-chart", "mesh-cluster3-preflight-chart"]);
        for (const { name } of THREE_CLUSTERS_TWO_NETWORKS) {
            const chart = one(charts, (c) => c.name === `mesh-${name}-preflight-chart`, "preflight");
            expect(providerUrn(chart)).toBe(providerOf(run, name).urn);
            expect(plain(chart.inputs)).toMatchObject({ chart: preflightChartDir(), values: { cluster: name, namespace: "istio-system", stack: "istio-multicluster/test" } });
        }
    });

    test("every Kubernetes object in every cluster waits for every cluster's preflight", () => {
        const charts = ofType(run.resources, CHART_V4);
        const k8s = run.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== CHART_V4 && !r.read);
        expect(k8s.length).toBeGreaterThan(60);
        for (const r of k8s) for (const chart of charts) expect({ r: r.name, waitsFor: chart.name, ok: dependsOn(run.resources, r, chart) }).toEqual({ r: r.name, waitsFor: chart.name, ok: true });
    });

    test("until every cluster's preflight has passed, nothing reaches any cluster (a failing one fails the run there)", async () => {
        // cluster2's check is held back, as a render that has not come back yet (one that fails never comes back).
        let pass: () => void = () => undefined;
        const held = new Promise<Record<string, unknown>>((resolve) => (pass = () => resolve({})));
        const run = await startProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS), {
            outputs: { [CHART_V4]: ((inputs: { values: { cluster: string } }) => (inputs.values.cluster === "cluster2" ? held : {})) as never },
        });
        await new Promise((r) => setTimeout(r, 1500));
        const reached = run.declaredSoFar();
        expect(reached.filter((r) => r.type === CHART_V4).map((r) => r.name).sort()).toEqual(["mesh-cluster1-preflight-chart", "mesh-cluster2-preflight-chart", "mesh-cluster3-preflight-chart"]);
        expect(reached.filter((r) => r.type.startsWith("kubernetes:") && r.type !== CHART_V4)).toEqual([]);
        pass();
        const done = await run.finish();
        expect(ofType(done.resources, RELEASE).length).toBeGreaterThan(6);
    });

    test("clusters the program makes get no preflight (their first preview has no cluster to look at)", async () => {
        const { loadStackConfig } = await import("../support/stackConfig");
        const { azureMocks, newRecord } = await import("../support/cloudMocks");
        const azure = await runProgram(loadStackConfig("azure", { "azure-native:location": "eastus" }), azureMocks(newRecord()));
        expect(ofType(azure.resources, CHART_V4)).toEqual([]);
    });
});

describe("the preflight chart, rendered by real Helm on made-up clusters", () => {
    const STACK = "istio-multicluster/test";
    const render = (observed?: Record<string, unknown>) => () => renderChart(preflightChartDir(), preflightValues("cluster1", observed), "preflight", "default");
    const istiod = (name: string, release = name) => ({ metadata: { name, labels: { app: "istiod" }, annotations: { "meta.helm.sh/release-name": release } } });
    const crd = (name: string, release?: string, releaseNamespace = "istio-system") => ({
        metadata: { name, annotations: release ? { "meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": releaseNamespace } : {} },
    });
    const helmRelease = (name: string, version = 1) => ({ type: "helm.sh/release.v1", metadata: { name: `sh.helm.release.v1.${name}.v${version}`, labels: { name, owner: "helm" } } });

    test("a cluster without Istio, or the one this stack made, passes and renders nothing", () => {
        expect(render()()).toEqual([]);
        expect(render({ crds: [crd("gateways.networking.istio.io", "istio-base")] })()).toEqual([]);
        const ours = { namespace: { metadata: { name: "istio-system", annotations: { "istio-multicluster/stack": STACK } } }, deployments: [istiod("istiod")], secrets: [helmRelease("istiod")] };
        expect(render(ours)()).toEqual([]);
        // A stack made before the mark: a namespace without one, written by the kubernetes provider.
        const older = { ...ours, namespace: { metadata: { name: "istio-system", managedFields: [{ manager: "pulumi-kubernetes-1a2b3c4d" }] } } };
        expect(render(older)()).toEqual([]);
    }, RENDER_TIMEOUT);

    test("istiod in an istio-system this stack did not make fails, naming the cluster, the Deployment and the Helm releases", () => {
        const foreign = {
            namespace: { metadata: { name: "istio-system", managedFields: [{ manager: "helm" }] } },
            deployments: [istiod("istiod"), { metadata: { name: "istio-ingressgateway", labels: { app: "istio-ingressgateway" } } }],
            secrets: [helmRelease("istiod", 1), helmRelease("istiod", 2), helmRelease("istio-base"), { type: "Opaque", metadata: { name: "cacerts" } }],
        };
        expect(render(foreign)).toThrow(
            'cluster cluster1 already runs an Istio this stack does not own: istiod (Deployment istio-system/istiod), in a namespace not made by this stack; ' +
                "Helm releases istio-base, istiod in istio-system, not made by this stack. Nothing was changed",
        );
        const otherStack = { ...foreign, namespace: { metadata: { name: "istio-system", annotations: { "istio-multicluster/stack": "istio-multicluster/prod" } } } };
        expect(render(otherStack)).toThrow("istiod (Deployment istio-system/istiod), in a namespace marked as stack istio-multicluster/prod");
    }, RENDER_TIMEOUT);

    test("Istio's CRDs owned by another Helm release, or by none, fail", () => {
        expect(render({ crds: [crd("gateways.networking.istio.io", "istio-base", "istio-operator"), crd("virtualservices.networking.istio.io", "istio-base", "istio-operator")] })).toThrow(
            "cluster cluster1 already runs an Istio this stack does not own: Istio's CRDs owned by Helm release istio-base in namespace istio-operator.",
        );
        expect(render({ crds: [crd("peerauthentications.security.istio.io")] })).toThrow("Istio's CRDs owned by no Helm release (istioctl and the Istio operator install them so)");
        // Other CRDs are not Istio's business.
        expect(render({ crds: [crd("gateways.gateway.networking.k8s.io")] })()).toEqual([]);
    }, RENDER_TIMEOUT);
});
