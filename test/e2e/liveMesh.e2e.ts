/**
 * End to end with "live mocks": the program (index.ts, unchanged) runs under Pulumi's mock runtime, and every
 * resource it registers is really performed on three real Kubernetes API servers (the bed: etcd, kube-apiserver
 * 1.34, controller-manager, scheduler, kwok) by lib/liveMocks.ts — server-side apply with kubectl, real Helm v3
 * (the version pulumi-kubernetes embeds) with the bed's Istio charts, real certificates for the tls resources —
 * while the real `pilot-discovery` of the Istio version under test (lib/istiod.ts) serves each cluster's webhooks
 * (injection, validation failing closed) and multicluster discovery. Dependency order is the SDK's own: a resource
 * is registered (and so applied) only once what it depends on has finished.
 *
 * Topology: cluster1 and cluster2 on network1 (the flat path), cluster3 on network2 (the gateway path).
 * Flow: bad input (nothing created), first apply with Istio 1.30.5, read-backs, real istiod, upgrade to 1.31.1.
 *
 * BLOCKED, NOT PROVEN HERE: the real Pulumi engine and providers. The Go module proxy answers 403 (Forbidden) for
 * github.com/pulumi/pulumi-kubernetes/provider/v4 (every version and commit tried), github.com/pulumi/pulumi-tls/
 * provider/v5 and github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, so neither `pulumi up` nor
 * the Automation API can run this program (mesh.e2e.ts is that suite, waiting for them). So this suite does not
 * prove: the engine's diff and plan (what an `up` updates or replaces), `expectNoChanges` on a second `up`,
 * `refresh`, `destroy`, `protect`, delete-before-replace, the kubernetes provider's own await logic (Services
 * waiting for endpoints, Jobs for completion, its retries), its SSA field manager and its Helm-release diffs,
 * Pulumi.yaml config defaults (every key is given here), and stack state (the tls resources' outputs are kept
 * between runs by LiveState as the engine would keep them for unchanged inputs).
 *
 * What the bed cannot prove either, and the suite does not count:
 * - Under kwok no container runs. Sample pods "Ready" and verification Jobs "Complete" because kwok says so:
 *   never evidence that traffic crossed clusters. The suite only asserts they exist.
 * - Pod IPs are in 127/8 (loopback-only bed) and Kubernetes refuses loopback addresses in EndpointSlices
 *   (ValidateNonSpecialIP): no pod endpoint exists anywhere, so istiod's registry holds the remote Services
 *   (ClusterIPs per cluster ID) but no remote endpoints: asserted as a named KNOWN GAP, not a pass.
 * - istiod runs outside the cluster with the bed's admin kubeconfig, not the chart's ServiceAccount and RBAC.
 * - kwok marks istiod's pod Ready whatever the real process does: after the istiod release the bed waits for the
 *   real pilot-discovery's /ready and the webhooks' caBundle (lib/liveMocks afterRelease), as the real pod's
 *   readiness probe would gate Helm's --wait.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Bed, BedCluster, bedIstioVersions, buildBed, cacheDir, chartsDir, startBed } from "./lib/bed";
import { ISTIO_NS, IstiodOperator } from "./lib/istiod";
import { Kube, KubeError, b64, eventually, isLoopbackHost } from "./lib/kube";
import { LiveMocks, LiveRun, LiveState, ReleaseDone, runLive } from "./lib/liveMocks";
import * as checks from "./lib/meshChecks";
import { helmReleases, makeLog, makeTimed, normPem, othersOf } from "./lib/meshChecks";

const NAMES = ["cluster1", "cluster2", "cluster3"];
const NETWORK: Record<string, string> = { cluster1: "network1", cluster2: "network1", cluster3: "network2" };
const MIN = 60_000;

const [FROM_VERSION, TO_VERSION] = (() => {
    const v = bedIstioVersions();
    return [process.env.E2E_FROM_VERSION ?? v[0] ?? "1.30.5", process.env.E2E_TO_VERSION ?? v[v.length - 1] ?? "1.31.1"];
})();

const log = makeLog("live-e2e");
const timings: Record<string, number> = {};
const timed = makeTimed(timings, log);

let root: string;
let bed: Bed | undefined;
let clusters: BedCluster[] = [];
const kube: Record<string, Kube> = {};
const istiod: Record<string, IstiodOperator> = {};
const state = new LiveState();
let first: LiveRun | undefined;
let upgrade: LiveRun | undefined;
/** How long after each istiod release the real istiod took to be ready, by "cluster@version". */
const istiodReadyAfterRelease: Record<string, number> = {};

const others = (name: string) => othersOf(NAMES, name);
const serverOf = (name: string) => clusters.find((x) => x.name === name)!.apiServerUrl;

function configFor(version: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        ...checks.clustersConfig({ istioVersion: version, chartSource: chartsDir(version), clusters: clusters.map((c) => ({ name: c.name, network: NETWORK[c.name], kubeconfigPath: c.kubeconfigPath })) }),
        "istio-multicluster:samples": {
            helloworld: { enabled: true },
            // Bookinfo with its defaults: front (productpage, details, ratings, ingress gateway) in cluster1,
            // reviews v1–v3 in cluster2, the ingress Service of type LoadBalancer.
            bookinfo: { enabled: true },
            // Kept (they are part of the program); under kwok their "success" is not evidence.
            verification: { enabled: true, rounds: 1, requestsPerRound: 1, intervalSeconds: 0 },
        },
        ...extra,
    };
}

/** The bed cluster a kubeconfig's server belongs to. */
const clusterOfServer = (server: string) => clusters.find((c) => c.apiServerUrl.replace(/\/$/, "") === server.replace(/\/$/, ""))?.name;

/** Under kwok istiod's pod is Ready at once: wait for what its readiness probe would wait for, in the real process. */
async function afterRelease(r: ReleaseDone): Promise<void> {
    if (r.name !== "istiod" || r.namespace !== ISTIO_NS) return;
    const n = clusterOfServer(r.server);
    if (!n) throw new Error(`istiod release on an unknown server ${r.server}`);
    const version = String(r.status.version);
    const t0 = Date.now();
    await eventually(
        `real istiod ${version} of ${n} ready (/ready) with the webhooks' caBundle patched`,
        async () => {
            if (istiod[n].running?.version !== version) return false;
            await istiod[n].debug("/ready");
            const m = await kube[n].get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector");
            const v = (await kube[n].list("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations")).filter((x) => /istio/.test(x.metadata.name));
            return [m, ...v].every((c) => (c.webhooks ?? []).every((w: any) => w.clientConfig?.caBundle));
        },
        4 * MIN,
        500,
    );
    istiodReadyAfterRelease[`${n}@${version}`] = Math.round((Date.now() - t0) / 100) / 10;
    log(`real istiod ${version} of ${n} ready ${istiodReadyAfterRelease[`${n}@${version}`]} s after its release`);
}

function newMocks(label: string): LiveMocks {
    return new LiveMocks({ workDir: path.join(root, "live", label), binDir: path.join(cacheDir(), "bin"), state, afterRelease, log });
}

/** A census of what a program could create, for "nothing was created". */
async function census(k: Kube): Promise<Record<string, number>> {
    const count = async (p: string) => (await k.list(p)).length;
    return {
        namespaces: await count("/api/v1/namespaces"),
        secrets: await count("/api/v1/secrets"),
        configmaps: await count("/api/v1/configmaps"),
        services: await count("/api/v1/services"),
        serviceaccounts: await count("/api/v1/serviceaccounts"),
        deployments: await count("/apis/apps/v1/deployments"),
        jobs: await count("/apis/batch/v1/jobs"),
        crds: await count("/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
        mutatingwebhooks: await count("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"),
        validatingwebhooks: await count("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"),
        clusterroles: await count("/apis/rbac.authorization.k8s.io/v1/clusterroles"),
    };
}

const rootOf = (r: LiveRun | undefined) => {
    if (!r) throw new Error("the first apply did not succeed");
    return normPem(String(r.outputs.rootCertPem));
};

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(process.env.E2E_WORK_DIR ?? os.tmpdir(), "istio-mc-live-"));
    log(`work dir ${root}; Istio ${FROM_VERSION} → ${TO_VERSION}; bed cache ${cacheDir()}`);
    if (process.env.E2E_SKIP_BUILD !== "1") await timed("bed build/check", async () => buildBed());
    checks.requireBedFiles([FROM_VERSION, TO_VERSION], [path.join(cacheDir(), "bin", "helm"), path.join(cacheDir(), "bin", "kubectl")]);
    bed = await timed("bed start", () => startBed(NAMES, path.join(root, "bed")));
    clusters = checks.bedClusters(bed, NAMES);
    checks.startIstiods(clusters, { root, log, gatePodReadiness: process.env.E2E_GATE_ISTIOD_READY !== "0" }, kube, istiod);
}, 60 * MIN);

afterAll(async () => {
    await checks.stopIstiodsAndBed(istiod, bed, log);
    const slowest = (r?: LiveRun) =>
        r?.mocks.operations
            .filter((o) => o.op !== "component")
            .sort((a, b) => b.seconds - a.seconds)
            .slice(0, 8)
            .map((o) => `${o.seconds}s ${o.object}`);
    const summary = {
        fromVersion: FROM_VERSION,
        toVersion: TO_VERSION,
        seconds: timings,
        istiodReadyAfterRelease,
        slowestFirstApply: slowest(first),
        slowestUpgrade: slowest(upgrade),
        istiodStarts: checks.istiodStarts(istiod),
    };
    if (root) fs.writeFileSync(path.join(root, "timings.json"), JSON.stringify(summary, null, 2));
    if (process.env.E2E_TIMINGS_OUT) fs.writeFileSync(process.env.E2E_TIMINGS_OUT, JSON.stringify(summary, null, 2));
    log(`summary: ${JSON.stringify(summary)}; logs under ${root}`);
}, 5 * MIN);

describe("bad input", () => {
    test("a misspelt key fails before anything is registered or created (object census before/after)", async () => {
        const before = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await census(kube[n])] as const)));
        const cfg = configFor(FROM_VERSION);
        cfg["istio-multicluster:meshID"] = cfg["istio-multicluster:meshId"];
        delete cfg["istio-multicluster:meshId"];
        const mocks = newMocks("bad");
        const err = await runLive(cfg, mocks).then(() => undefined, (e: Error) => e);
        expect(err).toBeDefined();
        expect(String(err?.message)).toContain("istio-multicluster:meshID: unknown setting");
        expect(String(err?.message)).toContain('did you mean "meshId"');
        expect(mocks.registered.filter((r) => r.custom)).toEqual([]);
        for (const n of NAMES) expect([n, await census(kube[n])]).toEqual([n, before[n]]);
    }, 10 * MIN);
});

describe(`first apply (Istio ${FROM_VERSION})`, () => {
    test("the program runs to completion: every resource applied on the bed", async () => {
        first = await timed("first apply", () => runLive(configFor(FROM_VERSION), newMocks("first")));
        const ops = first.mocks.operations;
        log(`first apply: ${ops.filter((o) => o.op === "apply").length} objects, ${ops.filter((o) => o.op === "helm").length} releases, ${ops.filter((o) => o.op === "read").length} reads`);
        expect(first.mocks.failures).toEqual([]);
        expect(first.outputs.clusterNames).toEqual(NAMES);
        // What the API servers and Helm warned about while applying the program (informational; see the report).
        for (const w of first.mocks.warnings) log(`warning: ${w}`);
    }, 40 * MIN);
});

describe("ordering the real bed showed", () => {
    // Found by this bed (fixed in ffe00f8): RemoteSecret waited for the source's base chart only, but the reader's
    // ClusterRole/ClusterRoleBinding (istio-reader-clusterrole-istio-system) come from the source's *istiod* chart
    // (templates/reader-clusterrole*.yaml): every remote secret reached its target 11–19 s before the source granted
    // the token anything, and the target's istiod logged "namespaces is forbidden" until it retried.
    test("no remote secret is applied before its source's istiod release (reader RBAC) is deployed", () => {
        if (!first) throw new Error("the first apply did not succeed");
        const hostOf = (n: string) => new URL(clusters.find((c) => c.name === n)!.apiServerUrl).host;
        const ops = first.mocks.operations;
        const late: string[] = [];
        for (const src of NAMES) {
            const rel = ops.find((o) => o.object === `helm release ${ISTIO_NS}/istiod @ ${hostOf(src)}`)!;
            const relDone = rel.startedAt + rel.seconds * 1000;
            for (const tgt of others(src)) {
                const sec = ops.find((o) => o.object === `Secret ${ISTIO_NS}/istio-remote-secret-${src} @ ${hostOf(tgt)}`)!;
                if (sec.startedAt < relDone) late.push(`istio-remote-secret-${src} in ${tgt} applied ${((relDone - sec.startedAt) / 1000).toFixed(1)} s before ${src}'s istiod release was deployed`);
            }
        }
        log(`ordering: ${late.join("; ") || "every remote secret after its source's istiod release"}`);
        expect(late).toEqual([]);
        // And so no istiod was refused by a remote API server.
        for (const n of NAMES) expect([n, fs.readFileSync(istiod[n].logFile, "utf8").match(/.*is forbidden.*/g) ?? []]).toEqual([n, []]);
    });
});

describe("read back from the real API servers", () => {
    beforeAll(() => {
        if (!first) throw new Error("the first apply did not succeed");
    });

    test.each(NAMES)("%s: Helm releases deployed at the chart version under test, istiod Available", async (n) => {
        const releases = await helmReleases(kube[n]);
        // Two networks: every primary gets an east-west gateway (components/core/mesh.ts).
        // cluster1 is Bookinfo's front cluster: it also has the samples' ingress gateway.
        expect(Object.keys(releases).sort()).toEqual(["istio-base", "istio-eastwestgateway", ...(n === "cluster1" ? ["istio-ingressgateway"] : []), "istiod"]);
        for (const [name, r] of Object.entries(releases)) expect([name, r.status, r.chartVersion]).toEqual([name, "deployed", FROM_VERSION]);
        await checks.expectDeploymentAvailable(kube[n], "istiod");
        const dep = await kube[n].get(`/apis/apps/v1/namespaces/${ISTIO_NS}/deployments/istiod`);
        // The chart's values reached istiod: cluster ID, network and mesh ID as env of the discovery container.
        const env = Object.fromEntries((dep.spec.template.spec.containers.find((c: any) => c.name === "discovery").env ?? []).map((e: any) => [e.name, e.value]));
        expect([env.CLUSTER_ID, env.ISTIO_META_NETWORK ?? NETWORK[n]]).toEqual([n, NETWORK[n]]);
        const ns = await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}`);
        expect(ns.metadata.labels["topology.istio.io/network"]).toBe(NETWORK[n]);
        const pa = await kube[n].get(`/apis/security.istio.io/v1/namespaces/${ISTIO_NS}/peerauthentications/default`);
        expect(pa.spec.mtls.mode).toBe("STRICT");
    });

    test.each(NAMES)("%s: cacerts = the program's CA files (shared root, own intermediate, chain verifies, key matches)", async (n) => {
        const root = rootOf(first);
        const files = await checks.expectCacertsOfMeshCa(kube[n], n, root);
        // openssl agrees: the chain verifies to the root.
        const dir = fs.mkdtempSync(path.join(root === "" ? os.tmpdir() : os.tmpdir(), "chain-"));
        fs.writeFileSync(path.join(dir, "root.pem"), root);
        fs.writeFileSync(path.join(dir, "ca.pem"), files["ca-cert.pem"]);
        expect(execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "root.pem"), path.join(dir, "ca.pem")], { encoding: "utf8" })).toContain(": OK");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("every cluster has its own intermediate", async () => {
        const cas = await Promise.all(NAMES.map(async (n) => b64((await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`)).data["ca-cert.pem"])));
        expect(new Set(cas.map(normPem)).size).toBe(NAMES.length);
    });

    test.each(NAMES)("%s: a remote secret for every other cluster, in Istio's format", async (n) => {
        await checks.expectRemoteSecrets(kube[n], others(n), serverOf);
    });

    test.each(NAMES)("%s: east-west gateway (Service with a loopback LB address, Deployment injected by the real istiod) and the cross-network Gateway", async (n) => {
        const ip = await checks.expectEastWestService(kube[n], NETWORK[n]);
        expect((first!.outputs.eastWestGatewayAddresses as Record<string, string>)[n]).toBe(ip);
        const pods = await checks.expectEastWestPods(kube[n]);
        for (const p of pods) {
            const proxy = p.spec.containers.find((c: any) => c.name === "istio-proxy");
            expect(proxy.image).not.toBe("auto");
            expect(proxy.image).toContain(`:${FROM_VERSION}`);
            expect(JSON.stringify(proxy.env)).toContain(NETWORK[n]);
        }
        const gw = await checks.expectCrossNetworkGateway(kube[n]);
        expect(gw.spec.selector).toEqual({ istio: "eastwestgateway" });
    });

    test.each(NAMES)("reader token of %s authenticates as istio-reader-service-account; can list/watch what istiod reads, cannot write", async (src) => {
        await checks.expectReaderToken(kube, clusters.find((x) => x.name === src)!, others(src), { readVerbs: ["list", "watch"] });
    });

    test.each(NAMES)("%s: samples exist and their pods were injected by the real istiod (their Ready/Complete is NOT evidence under kwok)", async (n) => {
        await checks.expectSampleNamespace(kube[n]);
        const pods = await kube[n].list("/api/v1/namespaces/sample/pods");
        expect(pods.length).toBeGreaterThan(0);
        for (const p of pods) {
            const names = [...p.spec.containers, ...(p.spec.initContainers ?? [])].map((c: any) => c.name);
            expect([p.metadata.name, names.includes("istio-proxy")]).toEqual([p.metadata.name, true]);
        }
    });

    test("bookinfo: ingress gateway release in cluster1 with a loopback LB address = the productpageUrl output; Gateway and VirtualService accepted", async () => {
        const releases = await helmReleases(kube.cluster1);
        expect(releases["istio-ingressgateway"]).toEqual({ revision: 1, status: "deployed", chartVersion: FROM_VERSION });
        const svc = await kube.cluster1.get(`/api/v1/namespaces/${ISTIO_NS}/services/istio-ingressgateway`);
        const ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
        expect(isLoopbackHost(ip)).toBe(true);
        expect((first!.outputs.samples as any).productpageUrl).toBe(`http://${ip}/productpage`);
        expect((await kube.cluster1.list("/apis/networking.istio.io/v1/namespaces/bookinfo/gateways")).length).toBe(1);
        expect((await kube.cluster1.list("/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices")).length).toBe(1);
        // reviews runs in cluster2 only; cluster1's istiod knows it from there (no endpoints: see the known gap).
        await eventually(
            "cluster1 registry has bookinfo reviews from cluster2",
            async () => {
                const all = (await istiod.cluster1.debug("/debug/registryz")) as any[];
                const r = all.find((x) => x.hostname === "reviews.bookinfo.svc.cluster.local");
                return r?.clusterVIPs?.Addresses?.cluster2 ? r : undefined;
            },
            2 * MIN,
            2000,
        );
    });
});

describe("real istiod (pilot-discovery out of cluster, listeners on the istiod ClusterIP)", () => {
    beforeAll(() => {
        if (!first) throw new Error("the first apply did not succeed");
    });

    test.each(NAMES)("%s: runs the version under test and serves the mesh root (istio-ca-root-cert), not a self-signed one", async (n) => {
        await checks.expectServesMeshRoot(kube[n], istiod[n], n, FROM_VERSION, rootOf(first), 2 * MIN);
    });

    test.each(NAMES)("%s: /debug/clusterz lists both other clusters as synced", async (n) => {
        await checks.expectClusterzSynced(istiod[n], n, others(n), log);
    });

    test.each(NAMES)("%s: /debug/registryz knows helloworld from every cluster (ClusterIPs per cluster ID)", async (n) => {
        await checks.expectRegistryHasHelloworld(kube, istiod[n], n, NAMES);
    });

    test.each(NAMES)("%s: /debug/networkz: the other network's east-west gateways at their load-balancer addresses, port 15443", async (n) => {
        const lb: Record<string, string> = {};
        for (const c of NAMES) lb[c] = (await kube[c].get(`/api/v1/namespaces/${ISTIO_NS}/services/istio-eastwestgateway`)).status.loadBalancer.ingress[0].ip;
        const otherNetwork = NAMES.filter((c) => NETWORK[c] !== NETWORK[n]);
        const gws = await eventually(
            `${n} networkz has the gateways of ${otherNetwork.join(", ")}`,
            async () => {
                const all = (await istiod[n].debug("/debug/networkz")) as any[];
                return otherNetwork.every((c) => all.some((g) => g.Network === NETWORK[c] && g.Cluster === c && g.Addr === lb[c] && g.Port === 15443)) ? all : undefined;
            },
            2 * MIN,
            2000,
        );
        log(`${n} networkz ${JSON.stringify(gws)}`);
    });

    test.each(NAMES)("%s: KNOWN GAP (not a pass): no endpoints from other clusters, loopback pod IPs are refused in EndpointSlices", async (n) => {
        // Shows the gap is real on this bed: the API server refuses a 127.x endpoint (ValidateNonSpecialIP).
        const slice = {
            apiVersion: "discovery.k8s.io/v1",
            kind: "EndpointSlice",
            metadata: { name: "e2e-loopback", namespace: "sample", labels: { "kubernetes.io/service-name": "helloworld" } },
            addressType: "IPv4",
            endpoints: [{ addresses: ["127.2.1.10"] }],
            ports: [{ name: "http", port: 5000, protocol: "TCP" }],
        };
        const refused = await kube[n].create("/apis/discovery.k8s.io/v1/namespaces/sample/endpointslices", slice, true).then(() => undefined, (e) => e);
        expect(refused).toBeInstanceOf(KubeError);
        expect(String((refused as Error).message)).toMatch(/loopback/i);
        log(`KNOWN GAP ${n}: cross-cluster endpoint discovery unproven (pod IPs are loopback; EndpointSlices refuse them)`);
    });

    test.each(NAMES)("%s: webhooks' caBundle patched with the mesh root; validation fails closed", async (n) => {
        await checks.expectWebhooksCaBundle(kube[n], rootOf(first));
    });

    test.each(NAMES)("%s: a Pod created in `sample` comes back injected by the real istiod", async (n) => {
        const pod = await checks.createSamplePod(kube[n]);
        const all = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])];
        const proxy = all.find((c: any) => c.name === "istio-proxy");
        expect(proxy).toBeDefined();
        expect(proxy.image).toContain(`:${FROM_VERSION}`);
        expect(JSON.stringify(proxy.env)).toContain(n); // ISTIO_META_CLUSTER_ID
        expect(JSON.stringify(proxy.env)).toContain(NETWORK[n]);
        expect(pod.metadata.annotations["sidecar.istio.io/status"]).toBeDefined();
    });

    test.each(NAMES)("%s: the validating webhook rejects an invalid Istio object and accepts a valid one", async (n) => {
        await checks.expectInvalidIstioObjectDenied(kube[n]);
        expect((await kube[n].create(checks.VIRTUAL_SERVICES, checks.virtualService("e2e-valid", [{ route: [{ destination: { host: "helloworld" } }] }]), true)).metadata.name).toBe("e2e-valid");
    });

    test.each(NAMES)("%s: validation fails closed: with the real istiod stopped, a valid Istio object is refused", async (n) => {
        const valid = checks.virtualService("e2e-closed", [{ route: [{ destination: { host: "helloworld" } }] }]);
        await checks.expectValidationFailsClosed(kube[n], istiod[n], n, valid, 1000);
    });

    test("every listener of pilot-discovery and the bed's processes is on 127.0.0.0/8 (ss -ltnp)", () => {
        checks.expectListenersOnLoopback(checks.bedListeners(), NAMES.length * 5);
    });
});

describe(`upgrade ${FROM_VERSION} → ${TO_VERSION}`, () => {
    const before: Record<string, { ns: string; cacerts: string; cacertsData: string }> = {};

    beforeAll(() => {
        if (!first) throw new Error("the first apply did not succeed");
    });

    test("the program runs again with the new version and its chart directory", async () => {
        for (const n of NAMES) {
            const s = await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`);
            before[n] = { ns: (await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}`)).metadata.uid, cacerts: s.metadata.uid, cacertsData: JSON.stringify(s.data) };
        }
        upgrade = await timed("upgrade apply", () => runLive(configFor(TO_VERSION), newMocks("upgrade")));
        expect(upgrade.mocks.failures).toEqual([]);
        expect(normPem(String(upgrade.outputs.rootCertPem))).toBe(rootOf(first));
        const ops = upgrade.mocks.operations;
        log(`upgrade: inputs changed for ${ops.filter((o) => o.changed).map((o) => o.object).join("; ") || "no plain object"}`);
        const replaced = ops.filter((o) => o.replaced);
        log(`upgrade: replaced ${replaced.map((o) => `${o.object} (${o.replaced!.join(", ")})`).join("; ") || "nothing"}`);
        // Only the verification Jobs may be replaced (their trigger follows istiod's chart version; they declare
        // deleteBeforeReplace). No Secret (cacerts, remote secrets, reader tokens) or namespace is.
        expect(replaced.filter((o) => !/^Job (sample|bookinfo)\/verify-/.test(o.object)).map((o) => o.object)).toEqual([]);
    }, 40 * MIN);

    test.each(NAMES)("%s: releases upgraded to the new chart version; istio-system and cacerts keep their UIDs and data", async (n) => {
        expect(upgrade).toBeDefined();
        await checks.expectReleasesUpgraded(kube[n], TO_VERSION);
        const s = await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`);
        expect({ ns: (await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}`)).metadata.uid, cacerts: s.metadata.uid, cacertsData: JSON.stringify(s.data) }).toEqual(before[n]);
    });

    test.each(NAMES)("%s: istiod restarted on the new version and re-synced", async (n) => {
        await checks.expectIstiodUpgraded(kube[n], istiod[n], n, { from: FROM_VERSION, to: TO_VERSION, others: others(n), meshRoot: () => rootOf(first) });
    });
});

describe("a third run with the same config (the program's inputs are stable: what expectNoChanges needs, emulated)", () => {
    test("no object's or release's inputs change, nothing is replaced, no release is upgraded", async () => {
        if (!upgrade) throw new Error("the upgrade did not succeed");
        const revisions = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await helmReleases(kube[n])] as const)));
        const again = await timed("same-config apply", () => runLive(configFor(TO_VERSION), newMocks("again")));
        expect(again.mocks.failures).toEqual([]);
        const changed = again.mocks.operations.filter((o) => o.changed).map((o) => o.object);
        log(`same-config run: inputs changed for ${changed.join("; ") || "nothing"}`);
        expect(changed).toEqual([]);
        expect(again.mocks.operations.filter((o) => o.replaced).map((o) => o.object)).toEqual([]);
        for (const n of NAMES) expect([n, await helmReleases(kube[n])]).toEqual([n, revisions[n]]);
    }, 20 * MIN);
});
