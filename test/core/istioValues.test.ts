/**
 * `istioValues` and `clusters[].istioValues`: Helm values laid under the mesh's own. What the program declares is
 * rendered with Istio's real charts by real Helm (test/support/realCharts.ts), so the tests see an overlay reach the
 * objects: the access log in the mesh ConfigMap, resources on the istiod Deployment (every revision's), the east-west
 * gateway's resources and PodDisruptionBudget through the gateway chart's values schema. Keys the mesh owns are refused
 * before anything is declared, naming the setting that owns them.
 */
import { parse } from "yaml";
import { Declared, RunResult, ofType, one, plain, runProgram, runProgramExpectingError, runComponents } from "../support/harness";
import { existingStack, kubeconfigFor, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";
import { renderIstioChart, renderedObject, RenderedObject } from "../support/realCharts";
import { istiodTemplateStandIn } from "../support/helmTemplate";
import { checkMeshIstioValues } from "../../components/core/mesh";
import { istioValuesProblems, mergeValues } from "../../components/core/istioValues";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const RENDER_TIMEOUT = 15 * 60_000; // the first run may build the bed's Helm (Go) and download Istio's module

const MESH_WIDE = {
    istiod: {
        meshConfig: {
            accessLogFile: "/dev/stdout",
            outboundTrafficPolicy: { mode: "REGISTRY_ONLY" },
            defaultConfig: { proxyMetadata: { ISTIO_META_DNS_CAPTURE: "true", ISTIO_META_DNS_AUTO_ALLOCATE: "true" } },
        },
        resources: { requests: { cpu: "750m", memory: "1Gi" } },
        autoscaleMin: 2,
        tolerations: [{ key: "dedicated", operator: "Equal", value: "istio", effect: "NoSchedule" }],
    },
    gateway: {
        resources: { requests: { cpu: "200m", memory: "256Mi" } },
        // The chart makes the PodDisruptionBudget only when more than one replica may run (templates/poddisruptionbudget.yaml).
        autoscaling: { minReplicas: 2 },
        podDisruptionBudget: { minAvailable: 1 },
    },
};
/** cluster3 asks for more CPU and a node pool of its own; the memory request still comes from the mesh-wide values. */
const CLUSTER3 = { istiod: { resources: { requests: { cpu: "1500m" } }, nodeSelector: { pool: "istio" } } };

function overlayStack(extra: Record<string, unknown> = {}) {
    const config = existingStack(THREE_CLUSTERS_TWO_NETWORKS, { eastWestLoadBalancer: "public", istioValues: MESH_WIDE, ...extra });
    (config.clusters as Record<string, unknown>[])[2].istioValues = CLUSTER3;
    return config;
}

const releaseOf = (run: RunResult, name: string) => one(run.resources, (r) => r.type === RELEASE && r.name === name, name);
const valuesOf = (r: Declared) => plain(r.inputs).values as Record<string, unknown>;
const container = (deployment: RenderedObject, name: string) => deployment.spec.template.spec.containers.find((c: { name: string }) => c.name === name);
const meshConfigOf = (objects: RenderedObject[], configMap: string) => parse(renderedObject(objects, "ConfigMap", configMap).data.mesh);

describe("an overlay reaches what Istio's charts render", () => {
    let run: RunResult;
    const istiod: Record<string, RenderedObject[]> = {};
    let gateway: RenderedObject[];
    beforeAll(async () => {
        run = await runProgram(overlayStack());
        for (const cluster of ["cluster1", "cluster3"]) istiod[cluster] = renderIstioChart("1.31.1", "istiod", valuesOf(releaseOf(run, `mesh-${cluster}-istiod`)), "istiod");
        gateway = renderIstioChart("1.31.1", "gateway", valuesOf(releaseOf(run, "mesh-cluster3-eastwest-release")), "istio-eastwestgateway");
    }, RENDER_TIMEOUT);

    test("the mesh's own values stay as they were: the overlay only adds", () => {
        for (const { name, network } of THREE_CLUSTERS_TWO_NETWORKS) {
            const values = valuesOf(releaseOf(run, `mesh-${name}-istiod`));
            expect(values.global).toEqual({ hub: "docker.io/istio", tag: "1.31.1", meshID: "mesh1", multiCluster: { clusterName: name }, network });
            expect(values.base).toBeUndefined();
            expect(values.meshConfig).toEqual(MESH_WIDE.istiod.meshConfig);
        }
        expect(valuesOf(releaseOf(run, "mesh-cluster1-base"))).toEqual({});
    });

    test("access logs, outbound policy and DNS proxying land in the mesh ConfigMap istiod reads", () => {
        for (const cluster of ["cluster1", "cluster3"]) {
            const mesh = meshConfigOf(istiod[cluster], "istio");
            expect(mesh.accessLogFile).toBe("/dev/stdout");
            expect(mesh.outboundTrafficPolicy).toEqual({ mode: "REGISTRY_ONLY" });
            expect(mesh.defaultConfig.proxyMetadata).toEqual({ ISTIO_META_DNS_CAPTURE: "true", ISTIO_META_DNS_AUTO_ALLOCATE: "true" });
            // The mesh's identity is still the program's.
            expect(mesh.defaultConfig.meshId).toBe("mesh1");
        }
    });

    test("resources, tolerations and autoscaling land on istiod; a cluster's own values go over the mesh-wide ones", () => {
        const discovery = (cluster: string) => container(renderedObject(istiod[cluster], "Deployment", "istiod"), "discovery");
        expect(discovery("cluster1").resources).toEqual({ requests: { cpu: "750m", memory: "1Gi" } });
        expect(discovery("cluster3").resources).toEqual({ requests: { cpu: "1500m", memory: "1Gi" } });
        const pod = (cluster: string) => renderedObject(istiod[cluster], "Deployment", "istiod").spec.template.spec;
        expect(pod("cluster1").tolerations).toEqual(expect.arrayContaining(MESH_WIDE.istiod.tolerations));
        expect(pod("cluster1").nodeSelector).toBeUndefined();
        expect(pod("cluster3").nodeSelector).toEqual({ pool: "istio" });
        expect(renderedObject(istiod.cluster1, "HorizontalPodAutoscaler", "istiod").spec.minReplicas).toBe(2);
        // CLUSTER_ID and the network are still the cluster's own.
        const env = Object.fromEntries(discovery("cluster3").env.map((e: { name: string; value?: string }) => [e.name, e.value]));
        expect({ CLUSTER_ID: env.CLUSTER_ID }).toEqual({ CLUSTER_ID: "cluster3" });
    });

    test("the east-west gateway's resources and PodDisruptionBudget pass the gateway chart's schema and reach its objects", () => {
        const deployment = renderedObject(gateway, "Deployment", "istio-eastwestgateway");
        // The chart keeps its default limits; the requests are the overlay's.
        expect(container(deployment, "istio-proxy").resources.requests).toEqual({ cpu: "200m", memory: "256Mi" });
        expect(renderedObject(gateway, "PodDisruptionBudget", "istio-eastwestgateway").spec.minAvailable).toBe(1);
        expect(renderedObject(gateway, "HorizontalPodAutoscaler", "istio-eastwestgateway").spec.minReplicas).toBe(2);
        // Still the network gateway the topology asks for.
        expect(deployment.spec.template.metadata.labels["topology.istio.io/network"]).toBe("network2");
        const service = renderedObject(gateway, "Service", "istio-eastwestgateway");
        expect(service.spec.ports.map((p: { port: number }) => p.port)).toEqual([15021, 15443, 15012, 15017]);
    });

    test("the real gateway chart refuses a key its schema does not know, so the test can fail", () => {
        const values = mergeValues(valuesOf(releaseOf(run, "mesh-cluster3-eastwest-release")), { resourcez: {} });
        expect(() => renderIstioChart("1.31.1", "gateway", values, "istio-eastwestgateway")).toThrow(/resourcez/);
    });
});

describe("with revisions, every revision's istiod gets the overlay", () => {
    const OLD = { name: "1-30-5", version: "1.30.5" };
    const NEW = { name: "1-31-1", version: "1.31.1" };
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(overlayStack({ revisions: [OLD, NEW], defaultRevision: OLD.name }), { calls: { "kubernetes:helm:template": istiodTemplateStandIn } });
    }, RENDER_TIMEOUT);

    test.each([OLD, NEW])("istiod-$name renders the access log and resources from its own chart version", ({ name, version }) => {
        for (const [cluster, cpu] of [["cluster1", "750m"], ["cluster3", "1500m"]]) {
            const values = valuesOf(releaseOf(run, `mesh-${cluster}-istiod-${name}`));
            expect(values.revision).toBe(name);
            const objects = renderIstioChart(version, "istiod", values, `istiod-${name}`);
            expect(meshConfigOf(objects, `istio-${name}`).accessLogFile).toBe("/dev/stdout");
            expect(container(renderedObject(objects, "Deployment", `istiod-${name}`), "discovery").resources.requests).toEqual({ cpu, memory: "1Gi" });
        }
    }, RENDER_TIMEOUT);
});

describe("keys the mesh owns are refused before anything is declared", () => {
    async function problems(config: Record<string, unknown>): Promise<string> {
        const { error, resources } = await runProgramExpectingError(config);
        expect(resources.filter((r) => r.custom)).toEqual([]);
        return error.message;
    }

    test("each owned key names the setting that owns it, all in one run", async () => {
        const config = existingStack(THREE_CLUSTERS_TWO_NETWORKS, {
            istioValues: {
                istiod: { global: { meshID: "other", network: "n9", hub: "evil.example/istio" }, revision: "x", pilot: { global: { multiCluster: { clusterName: "c9" } } } },
                base: { defaultRevision: "x" },
                gateway: { networkGateway: "n9", service: { type: "ClusterIP" }, labels: { "topology.istio.io/network": "n9" } },
            },
        });
        (config.clusters as Record<string, unknown>[])[1].istioValues = { istiod: { meshConfig: { trustDomain: "cluster2.local" } } };
        const msg = await problems(config);
        for (const [setting, owner] of [
            ["istioValues.istiod.global.meshID", "set by meshId"],
            ["istioValues.istiod.global.network", "set by clusters[].network"],
            ["istioValues.istiod.global.hub", "set by istioImageHub"],
            ["istioValues.istiod.revision", "set by revisions"],
            ["istioValues.istiod.pilot.global.multiCluster.clusterName", "set by clusters[].name"],
            ["istioValues.base.defaultRevision", "set by defaultRevision"],
            ["istioValues.gateway.networkGateway", "set by clusters[].network"],
            ["istioValues.gateway.service.type", "set by clusters[].eastWestServiceType"],
            ["istioValues.gateway.labels.topology.istio.io/network", "set by clusters[].network"],
            ["clusters[1].istioValues.istiod.meshConfig.trustDomain", "mesh-wide only"],
        ]) {
            expect(msg).toContain(`istio-multicluster:${setting}: ${owner}`);
        }
    });

    test("a value that would replace an owned key's parent is refused too; the trust domain is fine mesh-wide", async () => {
        const msg = await problems(existingStack(THREE_CLUSTERS_TWO_NETWORKS, { istioValues: { istiod: { global: "x", meshConfig: { trustDomain: "corp.example" } } } }));
        expect(msg).toContain("istio-multicluster:istioValues.istiod.global: set by meshId");
        expect(msg).not.toContain("trustDomain");
    });

    test("malformed overlays: not an object, an unknown chart (with a did you mean)", async () => {
        const config = existingStack(THREE_CLUSTERS_TWO_NETWORKS, { istioValues: { istiod: ["accessLogFile"], gatway: {} } });
        (config.clusters as Record<string, unknown>[])[0].istioValues = { base: { defaultRevision: "x" } };
        const msg = await problems(config);
        expect(msg).toMatch(/istio-multicluster:istioValues\.istiod: must be an object of Helm values for Istio's istiod chart/);
        expect(msg).toMatch(/istio-multicluster:istioValues\.gatway: unknown setting; did you mean "gateway"\?/);
        expect(msg).toContain("istio-multicluster:clusters[0].istioValues.base.defaultRevision: set by defaultRevision");
    });

    test("a stack without overlays declares exactly what it did before", async () => {
        const plainRun = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS, { eastWestLoadBalancer: "public" }));
        expect(valuesOf(releaseOf(plainRun, "mesh-cluster1-istiod"))).toEqual({
            global: { hub: "docker.io/istio", tag: "1.31.1", meshID: "mesh1", multiCluster: { clusterName: "cluster1" }, network: "network1" },
        });
    });
});

describe("from the component library", () => {
    const clusters = ["a", "b"].map((clusterName) => ({ clusterName, network: "n1" }));

    test("Mesh refuses owned keys and overlays for clusters it does not have", () => {
        expect(() => checkMeshIstioValues({ clusters, istioValues: { istiod: { global: { meshID: "x" } } } })).toThrow("Mesh: istioValues: istiod.global.meshID: set by meshId");
        expect(() => checkMeshIstioValues({ clusters, clusterIstioValues: { c: {} } })).toThrow('no cluster is named "c"');
        expect(() => checkMeshIstioValues({ clusters, clusterIstioValues: { a: { istiod: { meshConfig: { trustDomain: "t" } } } } })).toThrow("clusterIstioValues.a: istiod.meshConfig.trustDomain: mesh-wide only");
        expect(() => checkMeshIstioValues({ clusters, istioValues: MESH_WIDE, clusterIstioValues: { b: CLUSTER3 } })).not.toThrow();
    });

    test("Mesh passes mesh-wide and per-cluster values to each cluster's charts", async () => {
        const { Cluster } = await import("../../components/core/cluster");
        const { Mesh } = await import("../../components/core/mesh");
        const run = await runComponents(async () => {
            const meshClusters = [
                new Cluster("a", { clusterName: "a", network: "n1", kubeconfig: kubeconfigFor("a") }),
                new Cluster("b", { clusterName: "b", network: "n2", kubeconfig: kubeconfigFor("b") }),
            ];
            new Mesh("m", { meshId: "m1", istioVersion: "1.31.1", clusters: meshClusters, istioValues: MESH_WIDE, clusterIstioValues: { b: CLUSTER3 } });
            return {};
        });
        expect(valuesOf(releaseOf(run, "m-a-istiod")).resources).toEqual({ requests: { cpu: "750m", memory: "1Gi" } });
        expect(valuesOf(releaseOf(run, "m-b-istiod")).resources).toEqual({ requests: { cpu: "1500m", memory: "1Gi" } });
        expect(valuesOf(releaseOf(run, "m-b-eastwest-release")).podDisruptionBudget).toEqual({ minAvailable: 1 });
        expect(ofType(run.resources, RELEASE).length).toBeGreaterThan(4);
    });

    test("the problems function names paths from the chart down", () => {
        expect(istioValuesProblems({ istiod: { env: { ISTIO_MULTIROOT_MESH: "true", PILOT_X: "1" } } }, false)).toEqual([
            { path: ["istiod", "env", "ISTIO_MULTIROOT_MESH"], message: "set by ca.rootRotation; the mesh owns istiod.env.ISTIO_MULTIROOT_MESH" },
        ]);
        expect(mergeValues({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] }, d: 4 })).toEqual({ a: { b: 1, c: [3] }, d: 4 });
    });
});
