/**
 * Sample apps: what lands in which cluster (2 and 3 clusters), with which provider, after which istiod;
 * cluster-local routing content; the DNS-only Service stubs; pinned images; the ingress gateway chart;
 * schema validity of every object; and the samples settings with their cross-checks against the topology.
 */
import { Declared, RunResult, asDeclared, dependsOn, kubernetesObject, one, providerUrn, runProgram, runProgramExpectingError } from "../support/harness";
import { existingStack, FIELD_MANAGED, THREE_CLUSTERS_TWO_NETWORKS, TWO_CLUSTERS_ONE_NETWORK, ClusterSpec } from "../support/fixtures";
import { directKubernetesObjects, validateObject, SCHEMAS } from "../support/schemas";
import { CHART_PATHS, GATEWAY_SCHEMA_TOP_LEVEL, leafPaths } from "../support/chartValues";
import {
    bookinfoImage,
    clusterLocalDestinationRule,
    clusterLocalVirtualService,
    helloworldImage,
    isPinnedImage,
    productpageUrl,
    DEFAULT_CLIENT_IMAGE,
} from "../../components/samples/sampleManifests";
import { planSampleObjects, SampleAppsArgs } from "../../components/samples/sampleApps";
import { parseSamplesSettings, resolveSamplesPlan } from "../../stacks/samples";
import { ISTIO_HELM_REPO, DEFAULT_ISTIO_VERSION } from "../../components/common/istioVersion";

const PROVIDER = "pulumi:providers:kubernetes";
const RELEASE = "kubernetes:helm.sh/v3:Release";
const SAMPLE_APPS = "istio-multicluster:index:SampleApps";
const ONE_CLUSTER: ClusterSpec[] = [{ name: "cluster1", network: "network1" }];

const providerOf = (resources: Declared[], cluster: string) => one(resources, (r) => r.type === PROVIDER && r.name === `${cluster}-k8s`, `provider of ${cluster}`).urn;
const istiodOf = (resources: Declared[], cluster: string) =>
    one(resources, (r) => r.type === RELEASE && r.inputs.chart === "istiod" && providerUrn(r) === providerOf(resources, cluster), `istiod of ${cluster}`);
const sampleResources = (resources: Declared[]) => {
    const parent = one(resources, (r) => r.type === SAMPLE_APPS, "SampleApps").urn;
    return resources.filter((r) => r.parent === parent);
};
/** `Kind/namespace/name` of a declared object (or `Kind/name` for cluster-scoped ones). */
const objectKey = (r: Declared) => {
    const o = kubernetesObject(r);
    return [o.kind, o.metadata?.namespace, o.metadata?.name].filter((x) => x !== undefined).join("/");
};
/** Cluster name → sorted object keys, found through each object's provider. */
function placement(resources: Declared[], clusters: string[]): Record<string, string[]> {
    const byProvider = new Map(clusters.map((c) => [providerOf(resources, c), c]));
    const out: Record<string, string[]> = Object.fromEntries(clusters.map((c) => [c, [] as string[]]));
    for (const r of sampleResources(resources).filter((r) => !r.read && r.type !== RELEASE)) {
        const cluster = byProvider.get(providerUrn(r));
        if (!cluster) throw new Error(`${r.name} has no cluster provider`);
        out[cluster].push(objectKey(r));
    }
    for (const c of clusters) out[c].sort();
    return out;
}
const containers = (r: Declared): any[] => kubernetesObject(r).spec.template.spec.containers;
const samplesConfig = (clusters: ClusterSpec[], samples?: unknown, extra: Record<string, unknown> = {}) =>
    existingStack(clusters, samples === undefined ? extra : { ...extra, samples });

const HELLOWORLD_EVERYWHERE = ["Namespace/sample", "Service/sample/curl", "Service/sample/helloworld", "ServiceAccount/sample/curl", "Deployment/sample/curl"];

describe("two clusters, default settings (everything on), the ingress asked for as a load balancer", () => {
    let run: RunResult;
    beforeAll(async () => {
        // Existing clusters get a ClusterIP ingress unless asked (test/stacks/existingClusters.test.ts): asked here.
        run = await runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { bookinfo: { ingressServiceType: "LoadBalancer" } }));
    });

    test("every object lands in the right cluster: helloworld-v1 in cluster1, v2 in cluster2, Bookinfo front in cluster1, reviews in cluster2", () => {
        expect(placement(run.resources, ["cluster1", "cluster2"])).toEqual({
            cluster1: [
                ...HELLOWORLD_EVERYWHERE,
                "Deployment/sample/helloworld-v1",
                "Namespace/bookinfo",
                "Service/bookinfo/productpage",
                "Service/bookinfo/details",
                "Service/bookinfo/ratings",
                "Service/bookinfo/reviews",
                "ServiceAccount/bookinfo/bookinfo-productpage",
                "ServiceAccount/bookinfo/bookinfo-details",
                "ServiceAccount/bookinfo/bookinfo-ratings",
                "Deployment/bookinfo/productpage-v1",
                "Deployment/bookinfo/details-v1",
                "Deployment/bookinfo/ratings-v1",
                "Gateway/bookinfo/bookinfo-gateway",
                "VirtualService/bookinfo/bookinfo",
            ].sort(),
            cluster2: [
                ...HELLOWORLD_EVERYWHERE,
                "Deployment/sample/helloworld-v2",
                "Namespace/bookinfo",
                "Service/bookinfo/ratings",
                "Service/bookinfo/reviews",
                "ServiceAccount/bookinfo/bookinfo-reviews",
                "Deployment/bookinfo/reviews-v1",
                "Deployment/bookinfo/reviews-v2",
                "Deployment/bookinfo/reviews-v3",
            ].sort(),
        });
    });

    test("every sample object has its cluster's explicit provider and waits for that cluster's istiod", () => {
        const objects = sampleResources(run.resources).filter((r) => !r.read);
        expect(objects.length).toBeGreaterThan(30);
        for (const r of objects) {
            const cluster = ["cluster1", "cluster2"].find((c) => providerUrn(r) === providerOf(run.resources, c));
            expect({ name: r.name, cluster }).toEqual({ name: r.name, cluster: expect.stringMatching(/^cluster[12]$/) });
            expect({ name: r.name, waitsForIstiod: dependsOn(run.resources, r, istiodOf(run.resources, cluster!)) }).toEqual({ name: r.name, waitsForIstiod: true });
            const other = cluster === "cluster1" ? "cluster2" : "cluster1";
            // Nothing waits for the other cluster's control plane: a cluster's samples start as soon as its own istiod is up.
            expect({ name: r.name, waitsForOther: dependsOn(run.resources, r, istiodOf(run.resources, other)) }).toEqual({ name: r.name, waitsForOther: false });
        }
    });

    test("objects in a namespace wait for that namespace", () => {
        for (const r of sampleResources(run.resources).filter((r) => !r.read && r.type !== RELEASE && r.type !== "kubernetes:core/v1:Namespace")) {
            const ns = one(
                sampleResources(run.resources),
                (n) => n.type === "kubernetes:core/v1:Namespace" && n.inputs.metadata.name === r.inputs.metadata.namespace && n.provider === r.provider,
                `namespace of ${r.name}`,
            );
            expect(dependsOn(run.resources, r, ns)).toBe(true);
        }
    });

    test("sample namespaces get sidecar injection", () => {
        const namespaces = sampleResources(run.resources).filter((r) => r.type === "kubernetes:core/v1:Namespace");
        expect(namespaces).toHaveLength(4);
        for (const ns of namespaces) expect(ns.inputs.metadata.labels).toEqual({ "istio-injection": "enabled" });
    });

    test("helloworld: the Service everywhere (port 5000, app: helloworld), one version per cluster with SERVICE_VERSION set", () => {
        const objs = sampleResources(run.resources);
        const services = objs.filter((r) => objectKey(r) === "Service/sample/helloworld");
        expect(services).toHaveLength(2);
        for (const s of services) expect(s.inputs.spec).toEqual({ ports: [{ port: 5000, name: "http" }], selector: { app: "helloworld" } });
        const v1 = one(objs, (r) => objectKey(r) === "Deployment/sample/helloworld-v1", "helloworld-v1");
        expect(providerUrn(v1)).toBe(providerOf(run.resources, "cluster1"));
        expect(containers(v1)[0]).toMatchObject({ image: "docker.io/istio/examples-helloworld-v1:1.0", env: [{ name: "SERVICE_VERSION", value: "v1" }] });
        expect(v1.inputs.spec.selector.matchLabels).toEqual({ app: "helloworld", version: "v1" });
        const v2 = one(objs, (r) => objectKey(r) === "Deployment/sample/helloworld-v2", "helloworld-v2");
        expect(providerUrn(v2)).toBe(providerOf(run.resources, "cluster2"));
        expect(containers(v2)[0]).toMatchObject({ image: "docker.io/istio/examples-helloworld-v2:1.0", env: [{ name: "SERVICE_VERSION", value: "v2" }] });
    });

    test("the curl client (Istio's current sample, formerly sleep) runs in every cluster", () => {
        const curl = sampleResources(run.resources).filter((r) => objectKey(r) === "Deployment/sample/curl");
        expect(curl.map((r) => providerUrn(r)).sort()).toEqual([providerOf(run.resources, "cluster1"), providerOf(run.resources, "cluster2")].sort());
        for (const r of curl) {
            expect(containers(r)[0]).toMatchObject({ image: "docker.io/curlimages/curl:8.16.0", command: ["/bin/sleep", "infinity"] });
            expect(kubernetesObject(r).spec.template.spec.serviceAccountName).toBe("curl");
        }
    });

    test("Bookinfo: the reviews Service is declared in cluster1 where no reviews pod runs, as a DNS-only stub", () => {
        const objs = sampleResources(run.resources);
        const reviews = objs.filter((r) => objectKey(r) === "Service/bookinfo/reviews");
        const stub = one(reviews, (r) => providerUrn(r) === providerOf(run.resources, "cluster1"), "reviews stub");
        const real = one(reviews, (r) => providerUrn(r) === providerOf(run.resources, "cluster2"), "reviews service");
        for (const s of [stub, real]) expect(s.inputs.spec).toEqual({ ports: [{ port: 9080, name: "http" }], selector: { app: "reviews" } });
        // Pulumi would otherwise wait for endpoints that never appear in this cluster.
        expect(stub.inputs.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true", ...FIELD_MANAGED });
        expect(real.inputs.metadata.annotations).toEqual(FIELD_MANAGED);
        expect(objs.filter((r) => r.type === "kubernetes:apps/v1:Deployment" && /reviews/.test(r.name) && providerUrn(r) === providerOf(run.resources, "cluster1"))).toEqual([]);
        // reviews v2/v3 call ratings, which runs in cluster1 only.
        const ratingsStub = one(objs, (r) => objectKey(r) === "Service/bookinfo/ratings" && providerUrn(r) === providerOf(run.resources, "cluster2"), "ratings stub");
        expect(ratingsStub.inputs.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true", ...FIELD_MANAGED });
    });

    test("Bookinfo: reviews report their cluster (CLUSTER_NAME), which productpage renders", () => {
        const reviews = sampleResources(run.resources).filter((r) => r.type === "kubernetes:apps/v1:Deployment" && /reviews-v\d/.test(r.inputs.metadata.name));
        expect(reviews.map((r) => r.inputs.metadata.name).sort()).toEqual(["reviews-v1", "reviews-v2", "reviews-v3"]);
        for (const r of reviews) {
            expect(containers(r)[0].env).toContainEqual({ name: "CLUSTER_NAME", value: "cluster2" });
            expect(containers(r)[0].image).toBe(`docker.io/istio/examples-bookinfo-reviews-${r.inputs.metadata.labels.version}:1.20.3`);
        }
    });

    test("Bookinfo ingress: Istio's pinned gateway chart in cluster1 after istiod, with a Gateway and VirtualService on /productpage", () => {
        const release = one(sampleResources(run.resources), (r) => r.type === RELEASE, "ingress gateway release");
        expect(providerUrn(release)).toBe(providerOf(run.resources, "cluster1"));
        expect(release.inputs).toMatchObject({
            name: "istio-ingressgateway",
            chart: "gateway",
            version: DEFAULT_ISTIO_VERSION,
            namespace: "istio-system",
            repositoryOpts: { repo: ISTIO_HELM_REPO },
        });
        expect(dependsOn(run.resources, release, istiodOf(run.resources, "cluster1"))).toBe(true);
        const values = release.inputs.values;
        // Public on purpose (a browser opens productpage), and marked so for the policy pack.
        expect(values).toEqual({
            // Its images as istiod's: from istioImageHub, pinned to the Istio version.
            global: { hub: "docker.io/istio", tag: DEFAULT_ISTIO_VERSION },
            name: "istio-ingressgateway",
            service: { type: "LoadBalancer", annotations: { "istio-multicluster/exposure": "public" } },
        });
        for (const key of Object.keys(values)) expect(GATEWAY_SCHEMA_TOP_LEVEL).toContain(key);
        const readable = CHART_PATHS.gateway.map((p) => p.path);
        for (const path of leafPaths(values)) {
            expect({ path, read: readable.some((p) => p === path || (p.endsWith(".*") && path.startsWith(p.slice(0, -1))) || path === p.replace(/\.\*$/, "")) }).toEqual({ path, read: true });
        }

        const gateway = one(sampleResources(run.resources), (r) => r.type === "kubernetes:networking.istio.io/v1:Gateway", "bookinfo Gateway");
        expect(gateway.inputs.spec.selector).toEqual({ istio: "ingressgateway" });
        const vs = one(sampleResources(run.resources), (r) => objectKey(r) === "VirtualService/bookinfo/bookinfo", "bookinfo VirtualService");
        expect(vs.inputs.spec.gateways).toEqual(["bookinfo-gateway"]);
        expect(vs.inputs.spec.http[0].match).toContainEqual({ uri: { exact: "/productpage" } });
        expect(vs.inputs.spec.http[0].route).toEqual([{ destination: { host: "productpage", port: { number: 9080 } } }]);
    });

    test("the productpage URL is a stack output, from the ingress gateway's load balancer", () => {
        const samples = run.outputs.samples as Record<string, any>;
        expect(samples.productpageUrl).toMatch(/^http:\/\/10\.0\.\d+\.\d+\/productpage$/);
        const read = one(run.resources, (r) => r.read && r.name.endsWith("ingressgateway-service"), "ingress Service read");
        expect(providerUrn(read)).toBe(providerOf(run.resources, "cluster1"));
        expect(samples.bookinfo).toEqual({ frontCluster: "cluster1", reviewsClusters: ["cluster2"] });
        expect(samples.helloworldVersions).toEqual({ cluster1: ["v1"], cluster2: ["v2"] });
        expect(samples.placement.cluster1).toContain("bookinfo/Service/reviews");
    });

    test("no cluster-local routing by default (it would stop cluster1 proving that it reaches cluster2)", () => {
        expect(run.resources.filter((r) => r.type === "kubernetes:networking.istio.io/v1:DestinationRule")).toEqual([]);
        expect((run.outputs.samples as any).clusterLocalRouting).toEqual([]);
    });

    test("every image is pinned to an exact tag", () => {
        const workloads = run.resources.filter((r) => r.type === "kubernetes:apps/v1:Deployment" || r.type === "kubernetes:batch/v1:Job");
        expect(workloads.length).toBeGreaterThan(10);
        for (const r of workloads) {
            for (const c of containers(r)) {
                expect({ name: r.name, image: c.image, pinned: isPinnedImage(c.image) }).toEqual({ name: r.name, image: c.image, pinned: true });
                expect(c.image).not.toMatch(/:latest$/);
            }
        }
    });

    test("every object the samples and the verification declare matches the Kubernetes and Istio schemas", () => {
        const mine = directKubernetesObjects(run.resources).filter((r) => /^(samples|mesh-verification)-/.test(r.name));
        expect(new Set(mine.map((r) => r.type))).toEqual(
            new Set([
                "kubernetes:core/v1:Namespace",
                "kubernetes:core/v1:Service",
                "kubernetes:core/v1:ServiceAccount",
                "kubernetes:apps/v1:Deployment",
                "kubernetes:batch/v1:Job",
                "kubernetes:networking.istio.io/v1:Gateway",
                "kubernetes:networking.istio.io/v1:VirtualService",
            ]),
        );
        for (const r of mine) validateObject(r);
    });
});

describe("three clusters", () => {
    test("default: one helloworld version per cluster (v3 runs the v1 image with SERVICE_VERSION=v3); Bookinfo stays on cluster1 and cluster2", async () => {
        const run = await runProgram(samplesConfig(THREE_CLUSTERS_TWO_NETWORKS));
        const where = placement(run.resources, ["cluster1", "cluster2", "cluster3"]);
        expect(where.cluster3).toEqual([...HELLOWORLD_EVERYWHERE, "Deployment/sample/helloworld-v3"].sort());
        expect(where.cluster1.filter((k) => k.startsWith("Deployment/sample/helloworld"))).toEqual(["Deployment/sample/helloworld-v1"]);
        expect(where.cluster2.filter((k) => k.startsWith("Deployment/sample/helloworld"))).toEqual(["Deployment/sample/helloworld-v2"]);
        expect(where.cluster2).toContain("Deployment/bookinfo/reviews-v3");
        expect(where.cluster1).toContain("Service/bookinfo/reviews");
        const v3 = one(sampleResources(run.resources), (r) => objectKey(r) === "Deployment/sample/helloworld-v3", "helloworld-v3");
        expect(containers(v3)[0]).toMatchObject({ image: "docker.io/istio/examples-helloworld-v1:1.0", env: [{ name: "SERVICE_VERSION", value: "v3" }] });
        expect(dependsOn(run.resources, v3, istiodOf(run.resources, "cluster3"))).toBe(true);
        for (const r of directKubernetesObjects(run.resources).filter((r) => /^(samples|mesh-verification)-/.test(r.name))) validateObject(r);
    });

    test("configured: versions per cluster, Bookinfo front in cluster3 with reviews in cluster1 and cluster2", async () => {
        const run = await runProgram(
            samplesConfig(THREE_CLUSTERS_TWO_NETWORKS, {
                helloworld: { versions: { cluster1: "v1", cluster3: ["v2", "v3"] } },
                bookinfo: { frontCluster: "cluster3", reviewsClusters: ["cluster1", "cluster2"] },
            }),
        );
        const where = placement(run.resources, ["cluster1", "cluster2", "cluster3"]);
        const deployments = (c: string) => where[c].filter((k) => k.startsWith("Deployment/"));
        expect(deployments("cluster1")).toEqual(
            ["Deployment/sample/curl", "Deployment/sample/helloworld-v1", "Deployment/bookinfo/reviews-v1", "Deployment/bookinfo/reviews-v2", "Deployment/bookinfo/reviews-v3"].sort(),
        );
        expect(deployments("cluster2")).toEqual(["Deployment/sample/curl", "Deployment/bookinfo/reviews-v1", "Deployment/bookinfo/reviews-v2", "Deployment/bookinfo/reviews-v3"].sort());
        expect(deployments("cluster3")).toEqual(
            [
                "Deployment/sample/curl",
                "Deployment/sample/helloworld-v2",
                "Deployment/sample/helloworld-v3",
                "Deployment/bookinfo/productpage-v1",
                "Deployment/bookinfo/details-v1",
                "Deployment/bookinfo/ratings-v1",
            ].sort(),
        );
        // cluster2 runs no helloworld: its Service is only there for DNS.
        const hw2 = one(
            sampleResources(run.resources),
            (r) => objectKey(r) === "Service/sample/helloworld" && providerUrn(r) === providerOf(run.resources, "cluster2"),
            "helloworld Service in cluster2",
        );
        expect(hw2.inputs.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true", ...FIELD_MANAGED });
        const release = one(sampleResources(run.resources), (r) => r.type === RELEASE, "ingress gateway");
        expect(providerUrn(release)).toBe(providerOf(run.resources, "cluster3"));
        expect(dependsOn(run.resources, release, istiodOf(run.resources, "cluster3"))).toBe(true);
        expect((run.outputs.samples as any).bookinfo).toEqual({ frontCluster: "cluster3", reviewsClusters: ["cluster1", "cluster2"] });
    });
});

describe("one cluster", () => {
    test("everything in it: helloworld v1, the whole of Bookinfo, no DNS stubs", async () => {
        const run = await runProgram(samplesConfig(ONE_CLUSTER));
        const where = placement(run.resources, ["cluster1"]);
        expect(where.cluster1.filter((k) => k.startsWith("Deployment/"))).toEqual(
            [
                "Deployment/sample/curl",
                "Deployment/sample/helloworld-v1",
                "Deployment/bookinfo/productpage-v1",
                "Deployment/bookinfo/details-v1",
                "Deployment/bookinfo/ratings-v1",
                "Deployment/bookinfo/reviews-v1",
                "Deployment/bookinfo/reviews-v2",
                "Deployment/bookinfo/reviews-v3",
            ].sort(),
        );
        expect(sampleResources(run.resources).filter((r) => r.inputs.metadata?.annotations?.["pulumi.com/skipAwait"])).toEqual([]);
    });
});

describe("cluster-local routing (the AKS seed's step 11)", () => {
    test("enabled: DestinationRule (a subset per cluster on topology.istio.io/cluster) and VirtualService in cluster1 only", async () => {
        const run = await runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { clusterLocalRouting: { enabled: true } }));
        const drs = run.resources.filter((r) => r.type === "kubernetes:networking.istio.io/v1:DestinationRule");
        const vss = run.resources.filter((r) => objectKey(r) === "VirtualService/sample/helloworld-cluster-local-vs");
        expect(drs.map(providerUrn)).toEqual([providerOf(run.resources, "cluster1")]);
        expect(vss.map(providerUrn)).toEqual([providerOf(run.resources, "cluster1")]);
        const host = "helloworld.sample.svc.cluster.local";
        expect(kubernetesObject(drs[0])).toEqual({
            apiVersion: "networking.istio.io/v1",
            kind: "DestinationRule",
            metadata: { name: "helloworld-per-cluster-dr", namespace: "sample", annotations: FIELD_MANAGED },
            spec: {
                host,
                subsets: [
                    { name: "cluster1", labels: { "topology.istio.io/cluster": "cluster1" } },
                    { name: "cluster2", labels: { "topology.istio.io/cluster": "cluster2" } },
                ],
            },
        });
        expect(kubernetesObject(vss[0]).spec).toEqual({
            hosts: [host],
            http: [
                { name: "cluster1-local", match: [{ sourceLabels: { "topology.istio.io/cluster": "cluster1" } }], route: [{ destination: { host, subset: "cluster1" } }] },
                { name: "cluster2-local", match: [{ sourceLabels: { "topology.istio.io/cluster": "cluster2" } }], route: [{ destination: { host, subset: "cluster2" } }] },
            ],
        });
        for (const r of [...drs, ...vss]) {
            validateObject(r);
            expect(dependsOn(run.resources, r, istiodOf(run.resources, "cluster1"))).toBe(true);
        }
        expect((run.outputs.samples as any).clusterLocalRouting).toEqual(["cluster1"]);
    });

    test("applied where config says, for three clusters; subsets only for clusters running a version", async () => {
        const run = await runProgram(
            samplesConfig(THREE_CLUSTERS_TWO_NETWORKS, {
                helloworld: { versions: { cluster1: "v1", cluster3: "v3" } },
                clusterLocalRouting: { enabled: true, clusters: ["cluster1", "cluster3"] },
            }),
        );
        const drs = run.resources.filter((r) => r.type === "kubernetes:networking.istio.io/v1:DestinationRule");
        expect(drs.map(providerUrn).sort()).toEqual([providerOf(run.resources, "cluster1"), providerOf(run.resources, "cluster3")].sort());
        for (const dr of drs) expect(dr.inputs.spec.subsets.map((s: any) => s.name)).toEqual(["cluster1", "cluster3"]);
    });

    test("pure builders validate against Istio's schemas", () => {
        validateObject(manifestAsDeclared(clusterLocalDestinationRule(["a", "b", "c"])));
        validateObject(manifestAsDeclared(clusterLocalVirtualService(["a", "b", "c"])));
    });
});

/** Wraps a plain manifest as if it had been declared, for validateObject. */
function manifestAsDeclared(o: Record<string, any>): Declared {
    const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["core", o.apiVersion];
    const { apiVersion, kind, ...inputs } = o;
    void apiVersion;
    return asDeclared(`kubernetes:${group}/${version}:${kind}`, o.metadata.name, inputs);
}

describe("pure manifest plan", () => {
    const args = (n: number): SampleAppsArgs => ({
        clusters: Array.from({ length: n }, (_, i) => ({ clusterName: `c${i + 1}`, provider: undefined as any, istiod: undefined as any })),
        istioVersion: "1.30.4",
        helloworld: { versions: Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${i + 1}`, [`v${i + 1}`]])) },
        clusterLocalRouting: { clusters: ["c1"] },
        bookinfo: { frontCluster: "c1", reviewsClusters: n > 1 ? ["c2"] : ["c1"], ingressServiceType: "LoadBalancer", ingressServiceAnnotations: {} },
    });

    test.each([1, 2, 3, 5])("%i clusters: every planned object matches its schema and every image is pinned", (n) => {
        const plan = planSampleObjects(args(n));
        for (const { manifest } of plan) {
            const d = manifestAsDeclared(manifest);
            expect(SCHEMAS[d.type]).toBeDefined();
            validateObject(d);
            for (const c of manifest.spec?.template?.spec?.containers ?? []) expect(isPinnedImage(c.image)).toBe(true);
        }
        expect(plan.filter((p) => p.manifest.kind === "Deployment" && p.manifest.metadata.name === "curl")).toHaveLength(n);
    });

    test("one cluster: Bookinfo entirely in it, no DNS stubs needed", () => {
        const plan = planSampleObjects(args(1));
        const stubs = plan.filter((p) => p.manifest.metadata.annotations?.["pulumi.com/skipAwait"]);
        expect(stubs).toEqual([]);
        expect(plan.filter((p) => p.manifest.kind === "Service" && p.manifest.metadata.name === "reviews")).toHaveLength(1);
    });

    test("the schema check has teeth: a wrong type fails", () => {
        const dr = clusterLocalDestinationRule(["a"]);
        dr.spec.subsets[0].labels = "not-a-map";
        expect(() => validateObject(manifestAsDeclared(dr))).toThrow(/does not match/);
    });
});

describe("images", () => {
    test("isPinnedImage accepts exact tags and digests, refuses none and latest", () => {
        expect(isPinnedImage("docker.io/curlimages/curl:8.16.0")).toBe(true);
        expect(isPinnedImage("registry:5000/istio/examples-helloworld-v1:1.0")).toBe(true);
        expect(isPinnedImage(`curl@sha256:${"a".repeat(64)}`)).toBe(true);
        expect(isPinnedImage("docker.io/curlimages/curl")).toBe(false);
        expect(isPinnedImage("registry:5000/curl")).toBe(false);
        expect(isPinnedImage("curl:latest")).toBe(false);
    });

    test("sample images are Istio's, pinned", () => {
        expect(helloworldImage("v1")).toBe("docker.io/istio/examples-helloworld-v1:1.0");
        expect(helloworldImage("v2", "registry.istio.io/release")).toBe("registry.istio.io/release/examples-helloworld-v2:1.0");
        expect(bookinfoImage("productpage", "v1")).toBe("docker.io/istio/examples-bookinfo-productpage-v1:1.20.3");
        expect(DEFAULT_CLIENT_IMAGE).toBe("docker.io/curlimages/curl:8.16.0");
    });

    test("imageHub and clientImage settings reach every workload", async () => {
        const run = await runProgram(
            samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { imageHub: "registry.istio.io/release", clientImage: "mirror.example.com/curl:8.16.0" }),
        );
        for (const r of run.resources.filter((r) => r.type === "kubernetes:apps/v1:Deployment" || r.type === "kubernetes:batch/v1:Job")) {
            const image = containers(r)[0].image;
            if (/curl|verification/.test(r.name)) expect(image).toBe("mirror.example.com/curl:8.16.0");
            else expect(image).toMatch(/^registry\.istio\.io\/release\/examples-/);
        }
    });

    test("an unpinned client image is refused", () => {
        expect(() => parseSamplesSettings({ clientImage: "curlimages/curl:latest" })).toThrow(/istio-multicluster:samples\.clientImage: must name an exact tag or digest/);
    });
});

describe("productpage URL", () => {
    test("from an IP, a host name or an IPv6 address", () => {
        expect(productpageUrl({ ip: "20.1.2.3" })).toBe("http://20.1.2.3/productpage");
        expect(productpageUrl({ hostname: "abc.elb.amazonaws.com" })).toBe("http://abc.elb.amazonaws.com/productpage");
        expect(productpageUrl({ ip: "2001:db8::1" })).toBe("http://[2001:db8::1]/productpage");
        expect(productpageUrl(undefined)).toBe("");
    });

    test("without a load balancer there is no Service to read and the URL is empty", async () => {
        const run = await runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { bookinfo: { ingressServiceType: "ClusterIP" } }));
        expect(run.resources.filter((r) => r.read && r.name.includes("ingressgateway"))).toEqual([]);
        expect((run.outputs.samples as any).productpageUrl).toBe("");
        const release = one(sampleResources(run.resources), (r) => r.type === RELEASE, "ingress gateway");
        expect(release.inputs.values.service.type).toBe("ClusterIP");
    });
});

describe("switches", () => {
    test("samples.enabled false declares no sample, no Job, and no samples outputs", async () => {
        const run = await runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { enabled: false }));
        expect(run.resources.filter((r) => /^(samples|mesh-verification)/.test(r.name))).toEqual([]);
        expect(run.outputs.samples).toEqual({});
    });

    test("each part switches off on its own; string booleans from `pulumi config set --path` work", async () => {
        const run = await runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { bookinfo: { enabled: "false" }, verification: { enabled: false } }));
        const mine = run.resources.filter((r) => /^(samples|mesh-verification)-/.test(r.name));
        expect(mine.filter((r) => r.type === "kubernetes:batch/v1:Job")).toEqual([]);
        expect(mine.filter((r) => r.type === RELEASE)).toEqual([]);
        expect(mine.filter((r) => JSON.stringify(r.inputs).includes("bookinfo"))).toEqual([]);
        expect(mine.filter((r) => r.type === "kubernetes:apps/v1:Deployment").length).toBe(4);

        const hwOff = await runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { helloworld: { enabled: false } }));
        const hwMine = hwOff.resources.filter((r) => /^(samples|mesh-verification)-/.test(r.name));
        expect(hwMine.filter((r) => r.inputs.metadata?.namespace === "sample" || r.inputs.metadata?.name === "sample")).toEqual([]);
        expect(hwMine.filter((r) => r.type === "kubernetes:batch/v1:Job").map((r) => r.inputs.metadata.name)).toEqual(["verify-bookinfo"]);
    });

    test("the ingress gateway chart follows the stack's Istio version", async () => {
        const run = await runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, undefined, { istioVersion: "1.30.5" }));
        const release = one(sampleResources(run.resources), (r) => r.type === RELEASE, "ingress gateway");
        expect(release.inputs.version).toBe("1.30.5");
        expect(release.inputs.values.global).toEqual({ hub: "docker.io/istio", tag: "1.30.5" });
    });
});

describe("samples settings", () => {
    const names = ["cluster1", "cluster2", "cluster3"];
    const plan = (samples: unknown, clusters = names) => resolveSamplesPlan(parseSamplesSettings(samples), clusters);
    const problems = (samples: unknown, clusters = names): string[] => {
        try {
            plan(samples, clusters);
        } catch (e) {
            return (e as any).problems ?? [(e as Error).message];
        }
        return [];
    };

    test("{} means everything on, with defaults that follow the topology", () => {
        const settings = parseSamplesSettings(undefined);
        // imageHub is left out: it follows istioImageHub (docker.io/istio by default).
        expect(settings).toEqual({
            enabled: true,
            clientImage: "docker.io/curlimages/curl:8.16.0",
            helloworld: { enabled: true },
            clusterLocalRouting: { enabled: false },
            // ingressServiceType is left out: it follows the platform (LoadBalancer, or ClusterIP on existing clusters).
            bookinfo: { enabled: true, ingressServiceAnnotations: {} },
            verification: { enabled: true, rounds: 30, requestsPerRound: 10, intervalSeconds: 10, requestTimeoutSeconds: 3, runId: "1" },
        });
        expect(parseSamplesSettings({})).toEqual(settings);
        const p = plan({});
        expect(p.helloworld).toEqual({ versions: { cluster1: ["v1"], cluster2: ["v2"], cluster3: ["v3"] } });
        expect(p.bookinfo).toMatchObject({ frontCluster: "cluster1", reviewsClusters: ["cluster2"] });
        expect(p.clusterLocalRouting).toEqual([]);
        expect(p.verification!.checks.map((c) => [c.check, c.clusterName, c.expected.join(",")])).toEqual([
            ["helloworld", "cluster1", "v1,v2,v3"],
            ["helloworld", "cluster2", "v1,v2,v3"],
            ["helloworld", "cluster3", "v1,v2,v3"],
            ["bookinfo", "cluster1", "cluster2"],
        ]);
    });

    test("cluster-local routing on: those clusters expect only their own versions, the others still all", () => {
        const p = plan({ clusterLocalRouting: { enabled: true } }, ["cluster1", "cluster2"]);
        expect(p.clusterLocalRouting).toEqual(["cluster1"]);
        expect(p.verification!.checks.filter((c) => c.check === "helloworld").map((c) => c.expected)).toEqual([["v1"], ["v1", "v2"]]);
    });

    test("a single cluster: v1 only, Bookinfo entirely in it", () => {
        const p = plan({}, ["solo"]);
        expect(p.helloworld!.versions).toEqual({ solo: ["v1"] });
        expect(p.bookinfo).toMatchObject({ frontCluster: "solo", reviewsClusters: ["solo"] });
    });

    test("cluster references are checked against the topology, each problem naming its setting", () => {
        expect(problems({ helloworld: { versions: { cluster1: "v1", clustr2: "v2" } } })).toEqual([
            'istio-multicluster:samples.helloworld.versions.clustr2: "clustr2" is not a cluster of this stack; did you mean "cluster2"? Clusters: cluster1, cluster2, cluster3.',
        ]);
        expect(problems({ bookinfo: { frontCluster: "cluster9" } })).toEqual([
            expect.stringMatching(/^istio-multicluster:samples\.bookinfo\.frontCluster: "cluster9" is not a cluster of this stack/),
        ]);
        expect(problems({ bookinfo: { reviewsClusters: ["cluster2", "east"] } })).toEqual([
            'istio-multicluster:samples.bookinfo.reviewsClusters[1]: "east" is not a cluster of this stack. Clusters: cluster1, cluster2, cluster3.',
        ]);
        expect(problems({ clusterLocalRouting: { enabled: true, clusters: ["cluster4"] } })).toEqual([
            expect.stringMatching(/^istio-multicluster:samples\.clusterLocalRouting\.clusters\[0\]: "cluster4" is not a cluster/),
        ]);
    });

    test("every problem is reported at once", () => {
        expect(problems({ helloworld: { versions: { nope: "v1" } }, bookinfo: { frontCluster: "x", reviewsClusters: ["y"] } })).toHaveLength(3);
    });

    test("a version in two clusters, no version at all, duplicate clusters, or local routing where nothing runs are errors", () => {
        expect(problems({ helloworld: { versions: { cluster1: "v1", cluster2: ["v1"] } } })).toEqual([
            'istio-multicluster:samples.helloworld.versions.cluster2: version "v1" is also given to cluster1; each version runs in one cluster so answers tell where they came from',
        ]);
        expect(problems({ helloworld: { versions: {} } })).toEqual([expect.stringMatching(/samples\.helloworld\.versions: no cluster runs a helloworld version/)]);
        expect(problems({ bookinfo: { reviewsClusters: ["cluster2", "cluster2"] } })).toEqual(['istio-multicluster:samples.bookinfo.reviewsClusters[1]: "cluster2" is listed twice']);
        expect(problems({ helloworld: { versions: { cluster1: "v1" } }, clusterLocalRouting: { enabled: true, clusters: ["cluster2"] } })).toEqual([
            'istio-multicluster:samples.clusterLocalRouting.clusters[0]: "cluster2" runs no helloworld version, so its cluster-local calls would find no endpoint',
        ]);
        expect(problems({ helloworld: { enabled: false }, clusterLocalRouting: { enabled: true } })).toEqual([
            expect.stringMatching(/samples\.clusterLocalRouting\.enabled: cluster-local routing applies to helloworld, which is disabled/),
        ]);
    });

    test("types, ranges and unknown keys are refused by the schema, with the setting's name", () => {
        const errorOf = (s: unknown) => {
            try {
                parseSamplesSettings(s);
                return "";
            } catch (e) {
                return (e as Error).message;
            }
        };
        expect(errorOf({ verification: { rounds: 0 } })).toMatch(/istio-multicluster:samples\.verification\.rounds: must be at least 1/);
        expect(errorOf({ verification: { requestTimeoutSeconds: "soon" } })).toMatch(/samples\.verification\.requestTimeoutSeconds: must be a whole number/);
        expect(errorOf({ helloworld: { enabled: "yes" } })).toMatch(/samples\.helloworld\.enabled: must be true or false/);
        expect(errorOf({ helloworld: { version: {} } })).toMatch(/samples\.helloworld\.version: unknown setting; did you mean "versions"\?/);
        expect(errorOf({ helloworld: { versions: { cluster1: "V 1" } } })).toMatch(/samples\.helloworld\.versions\.cluster1/);
        expect(errorOf({ bookinfo: { ingressServiceType: "Ingress" } })).toMatch(/must be LoadBalancer, NodePort or ClusterIP/);
        expect(errorOf({ verification: { rounds: "12", runId: 7 } })).toBe("");
        expect(parseSamplesSettings({ verification: { rounds: "12", runId: 7 } }).verification).toMatchObject({ rounds: 12, runId: "7" });
    });

    test("a bad cluster reference is refused by the plan, before anything is declared", async () => {
        const { planSamples } = await import("../../stacks/samples");
        expect(() => planSamples({ bookinfo: { reviewsClusters: ["cluster3"] } }, ["cluster1", "cluster2"])).toThrow(
            /istio-multicluster:samples\.bookinfo\.reviewsClusters\[0\]: "cluster3" is not a cluster of this stack/,
        );
        const { error, resources } = await runProgramExpectingError(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { bookinfo: { reviewsClusters: ["cluster3"] } }));
        expect(error.message).toMatch(/samples\.bookinfo\.reviewsClusters\[0\]: "cluster3" is not a cluster of this stack/);
        // Not a sample, not a cluster provider, not a CA key: nothing.
        expect(resources.filter((r) => r.custom)).toEqual([]);
    });

    test("through the whole program, a bad reference fails `pulumi up` with the setting's name", async () => {
        await expect(runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, { helloworld: { versions: { cluster7: "v1" } } }))).rejects.toThrow(
            /istio-multicluster:samples\.helloworld\.versions\.cluster7: "cluster7" is not a cluster of this stack/,
        );
    });
});

describe("the project's policy pack", () => {
    /** Every policy violation among the samples' and the verification's resources. */
    async function sampleViolations(samples: unknown): Promise<string[]> {
        const { policyViolations } = await import("../support/policyRun");
        const asked = { ...(samples as Record<string, any>), bookinfo: { ingressServiceType: "LoadBalancer", ...(samples as Record<string, any>)?.bookinfo } };
        const run = await runProgram(samplesConfig(TWO_CLUSTERS_ONE_NETWORK, asked, { eastWestLoadBalancer: "public" }));
        return policyViolations(run.resources, { include: (r) => /^(samples|mesh-verification)-/.test(r.name), withMessages: true });
    }

    test("the samples pass every policy: the Bookinfo ingress is a public load balancer marked as such", async () => {
        expect(await sampleViolations(undefined)).toEqual([]);
    });

    test("marking the ingress internal without an internal annotation is flagged; with one it passes", async () => {
        expect(await sampleViolations({ bookinfo: { ingressServiceAnnotations: { "istio-multicluster/exposure": "internal" } } })).toEqual([
            expect.stringMatching(/^gateway-charts-internal-unless-public: samples-cluster1-ingressgateway/),
        ]);
        expect(
            await sampleViolations({
                bookinfo: {
                    ingressServiceAnnotations: { "istio-multicluster/exposure": "internal", "service.beta.kubernetes.io/azure-load-balancer-internal": "true" },
                },
            }),
        ).toEqual([]);
    });
});
