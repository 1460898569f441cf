/**
 * End to end: the real Pulumi CLI (Automation API, local file backend) deploys the program's existing-clusters
 * stack onto three real Kubernetes API servers (the bed: etcd, kube-apiserver, controller-manager, scheduler,
 * kwok), with the real `pilot-discovery` of the same Istio version serving each cluster's webhooks and
 * multicluster discovery (lib/istiod.ts).
 *
 * Topology: cluster1 and cluster2 on network1 (the flat path), cluster3 on network2 (the gateway path).
 *
 * What the bed cannot prove, and the suite does not count:
 * - Under kwok no container runs. Sample pods are "Running" and the verification Jobs "Complete" because kwok
 *   says so: their success is not evidence that traffic crossed clusters. The suite only asserts they exist.
 * - Pods have 127.x IPs (loopback-only bed); Kubernetes refuses loopback addresses in EndpointSlices
 *   (ValidateNonSpecialIP), so no pod endpoint exists anywhere: istiod's registry can hold the remote
 *   Services (their ClusterIPs per cluster ID) but no remote endpoints. Endpoint discovery is unproven here.
 * - istiod runs outside the cluster with the admin kubeconfig, not the chart's ServiceAccount and RBAC.
 *
 * Order: one bed and one stack serve the whole file: bad input first (on empty clusters), then preview, up,
 * read-backs, real istiod, no-change up, refresh, upgrade, protected destroy, unprotected destroy.
 */
import { execFileSync } from "child_process";
import { X509Certificate, createPrivateKey } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync } from "zlib";
import { Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml } from "yaml";
import { Bed, BedCluster, bedIstioVersions, buildBed, cacheDir, chartsDir, pilotDiscovery, startBed } from "./lib/bed";
import { ISTIO_NS, IstiodOperator } from "./lib/istiod";
import { Kube, KubeError, b64, eventually, isLoopbackHost } from "./lib/kube";
import { PulumiEnv, meshConfig, openStack, preparePulumi, writeStackConfig } from "./lib/stack";
import { slowestRows, updateTimings } from "./lib/timings";

const NAMES = ["cluster1", "cluster2", "cluster3"];
const NETWORK: Record<string, string> = { cluster1: "network1", cluster2: "network1", cluster3: "network2" };
const [FROM_VERSION, TO_VERSION] = (() => {
    const v = bedIstioVersions();
    return [process.env.E2E_FROM_VERSION ?? v[0] ?? "1.30.5", process.env.E2E_TO_VERSION ?? v[v.length - 1] ?? "1.31.1"];
})();
const STACK = "e2e";
const MIN = 60_000;

const log = (msg: string) => process.stderr.write(`[e2e ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const timings: Record<string, number> = {};
async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
        return await fn();
    } finally {
        timings[what] = Math.round((Date.now() - t0) / 100) / 10;
        log(`${what}: ${timings[what]} s`);
    }
}

// Shared state of the ordered suite.
let root: string;
let bed: Bed | undefined;
let env: PulumiEnv;
let cliRoot: string;
let stack: Stack;
const kube: Record<string, Kube> = {};
const istiod: Record<string, IstiodOperator> = {};
let clusters: BedCluster[] = [];
let upDone = false;
const engineEvents: any[] = [];

const normPem = (s: string) => s.replace(/\r/g, "").trim();
const others = (name: string) => NAMES.filter((n) => n !== name);

function configFor(version: string, extra: { allowRootRotation?: boolean; extra?: Record<string, unknown> } = {}) {
    return meshConfig({
        istioVersion: version,
        chartSource: chartsDir(version),
        clusters: clusters.map((c) => ({ name: c.name, network: NETWORK[c.name], kubeconfigPath: c.kubeconfigPath })),
        ...extra,
    });
}

/** Helm release Secrets (owner=helm) of istio-system, latest revision per release, decoded. */
async function helmReleases(k: Kube): Promise<Record<string, { revision: number; status: string; chartVersion: string; secretUid: string }>> {
    const secrets = await k.list(`/api/v1/namespaces/${ISTIO_NS}/secrets`, "labelSelector=owner%3Dhelm");
    const out: Record<string, { revision: number; status: string; chartVersion: string; secretUid: string }> = {};
    for (const s of secrets) {
        const revision = Number(s.metadata.labels.version);
        const name = s.metadata.labels.name;
        if (out[name] && out[name].revision > revision) continue;
        const release = JSON.parse(gunzipSync(Buffer.from(Buffer.from(s.data.release, "base64").toString("utf8"), "base64")).toString("utf8"));
        out[name] = { revision, status: s.metadata.labels.status, chartVersion: release.chart.metadata.version, secretUid: s.metadata.uid };
    }
    return out;
}

/** Every object of the program we look for on an API server, as "kind/name" strings. */
async function programObjects(k: Kube): Promise<string[]> {
    const found: string[] = [];
    for (const ns of ["istio-system", "sample", "bookinfo"]) {
        const o = await k.getOrUndefined(`/api/v1/namespaces/${ns}`);
        if (o) found.push(`Namespace/${ns} (${o.status?.phase})`);
    }
    for (const crd of await k.list("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")) {
        if (/istio\.io$/.test(crd.spec.group)) found.push(`CRD/${crd.metadata.name}`);
    }
    for (const kind of ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]) {
        for (const w of await k.list(`/apis/admissionregistration.k8s.io/v1/${kind}`)) {
            if (/istio/.test(w.metadata.name)) found.push(`${kind}/${w.metadata.name}`);
        }
    }
    for (const kind of ["clusterroles", "clusterrolebindings"]) {
        for (const r of await k.list(`/apis/rbac.authorization.k8s.io/v1/${kind}`)) {
            if (/istio/.test(r.metadata.name)) found.push(`${kind}/${r.metadata.name}`);
        }
    }
    return found;
}

async function uidsOf(k: Kube): Promise<Record<string, string>> {
    const paths = [
        `/api/v1/namespaces/${ISTIO_NS}`,
        `/api/v1/namespaces/sample`,
        `/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`,
        ...others(k.name).map((s) => `/api/v1/namespaces/${ISTIO_NS}/secrets/istio-remote-secret-${s}`),
        ...others(k.name).map((t) => `/api/v1/namespaces/${ISTIO_NS}/secrets/istio-reader-token-${t}`),
    ];
    const out: Record<string, string> = {};
    for (const p of paths) out[p] = (await k.get(p)).metadata.uid;
    return out;
}

async function clusterzSynced(name: string): Promise<any[] | false> {
    const list = (await istiod[name].debug("/debug/clusterz")) as { id: string; syncStatus: string }[];
    return others(name).every((o) => list.some((c) => c.id === o && c.syncStatus === "synced")) ? list : false;
}

function stackRoot(): Promise<string> {
    return stack.outputs().then((o) => o.rootCertPem.value as string);
}

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(process.env.E2E_WORK_DIR ?? os.tmpdir(), "istio-mc-e2e-"));
    log(`work dir ${root}; Istio ${FROM_VERSION} → ${TO_VERSION}; bed cache ${cacheDir()}`);
    await timed("bed build/check", async () => buildBed());
    const bin = path.join(cacheDir(), "bin");
    // E2E_PULUMI_BIN_DIR: a directory with another `pulumi` and `pulumi-language-nodejs` (put first on PATH).
    const cliBin = process.env.E2E_PULUMI_BIN_DIR ?? bin;
    // No tls provider plugin in the bed (the Go module proxy refuses it): the stand-in (tls-stand-in/) serves.
    const tlsBin = [cliBin, bin].some((d) => fs.existsSync(path.join(d, "pulumi-resource-tls"))) ? undefined : path.join(__dirname, "tls-stand-in");
    if (tlsBin) log(`tls provider: the STAND-IN in ${tlsBin} (not the real pulumi-resource-tls)`);
    const pathDirs = [cliBin, bin, ...(tlsBin ? [tlsBin] : [])].filter((d, i, a) => a.indexOf(d) === i).join(":");
    process.env.PATH = `${pathDirs}:${process.env.PATH}`;
    for (const v of [FROM_VERSION, TO_VERSION]) {
        for (const p of [pilotDiscovery(v), path.join(chartsDir(v), "istiod", "Chart.yaml")]) {
            if (!fs.existsSync(p)) throw new Error(`the bed lacks ${p}: run test/e2e/bed/build.sh`);
        }
    }
    bed = await timed("bed start", () => startBed(NAMES, path.join(root, "bed")));
    clusters = NAMES.map((n) => {
        const c = bed!.clusters.find((x) => x.name === n);
        if (!c) throw new Error(`bed has no cluster ${n}`);
        if (!isLoopbackHost(new URL(c.apiServerUrl).hostname)) throw new Error(`${n}: API server ${c.apiServerUrl} is not loopback`);
        return c;
    });
    for (const c of clusters) {
        kube[c.name] = Kube.fromKubeconfig(fs.readFileSync(c.kubeconfigPath, "utf8"), c.name);
        istiod[c.name] = new IstiodOperator({
            clusterName: c.name,
            kube: kube[c.name],
            kubeconfigPath: c.kubeconfigPath,
            workDir: path.join(root, "istiod", c.name),
            binaryFor: pilotDiscovery,
            log,
            gatePodReadiness: true,
        });
        istiod[c.name].start();
    }
    env = preparePulumi(root, pathDirs);
    // PulumiCommand.get({ root }) runs <root>/bin/pulumi.
    cliRoot = path.join(root, "cli");
    fs.mkdirSync(cliRoot, { recursive: true });
    fs.symlinkSync(cliBin, path.join(cliRoot, "bin"));
    stack = await openStack(env, cliRoot, STACK);
    writeStackConfig(env, STACK, configFor(FROM_VERSION));
}, 120 * MIN);

afterAll(async () => {
    await Promise.all(Object.values(istiod).map((o) => o.stop().catch((e) => log(`istiod stop: ${e}`))));
    if (bed) await Promise.resolve(bed.stop()).catch((e) => log(`bed stop: ${e}`));
    const engine = Object.fromEntries(
        ["up", "upgrade", "destroy"].map((phase) => {
            const t = updateTimings(engineEvents.filter((e) => e.phase === phase));
            return [phase, { makespan: t.makespan, timeToMesh: t.timeToMesh, slowest: slowestRows(t) }];
        }),
    );
    const summary = { fromVersion: FROM_VERSION, toVersion: TO_VERSION, seconds: timings, engine, istiodStarts: Object.fromEntries(Object.entries(istiod).map(([n, o]) => [n, o.starts.map((s) => ({ version: s.version, clusterIP: s.clusterIP }))])) };
    if (root) {
        fs.writeFileSync(path.join(root, "timings.json"), JSON.stringify(summary, null, 2));
        fs.writeFileSync(path.join(root, "engine-events.json"), JSON.stringify(engineEvents));
    }
    if (process.env.E2E_TIMINGS_OUT) fs.writeFileSync(process.env.E2E_TIMINGS_OUT, JSON.stringify(summary, null, 2));
    log(`timings (s): ${JSON.stringify(timings)}; logs and state under ${root}`);
}, 10 * MIN);

describe("bad input through the real CLI", () => {
    async function failsNaming(stackName: string, cfg: Record<string, unknown>, expected: string[]) {
        const bad = await openStack(env, cliRoot, stackName);
        writeStackConfig(env, stackName, cfg);
        const err = await timed(`${stackName} preview`, () => bad.preview().then(() => undefined, (e: Error) => e));
        expect(err).toBeDefined();
        for (const e of expected) expect(String(err?.message ?? err)).toContain(e);
        // A preview creates nothing anyway: `up` is the real test of "nothing is created".
        const upErr = await timed(`${stackName} up`, () => bad.up({ color: "never" }).then(() => undefined, (e: Error) => e));
        for (const e of expected) expect(String(upErr?.message ?? upErr)).toContain(e);
        for (const n of NAMES) expect(await programObjects(kube[n])).toEqual([]);
        const state = await bad.exportStack();
        expect((state.deployment.resources ?? []).filter((r: any) => !r.type.startsWith("pulumi:"))).toEqual([]);
        await bad.workspace.removeStack(stackName, { force: true });
    }

    test("misspelt required key (meshID): the CLI itself refuses, naming meshId (Pulumi.yaml declares it), nothing created", async () => {
        // Found on the bed: Pulumi.yaml declares `meshId` without a default, so the CLI stops before the program
        // runs ("Stack '…' is missing configuration value 'meshId'"): the program's "did you mean" never shows here.
        const cfg = configFor(FROM_VERSION);
        cfg["istio-multicluster:meshID"] = cfg["istio-multicluster:meshId"];
        delete cfg["istio-multicluster:meshId"];
        await failsNaming("e2e-bad-meshid", cfg, ["missing configuration value 'meshId'"]);
    }, 20 * MIN);

    test("misspelt optional key (istioVersoin): the program refuses with the setting named and a suggestion, nothing created", async () => {
        const cfg = configFor(FROM_VERSION);
        cfg["istio-multicluster:istioVersoin"] = cfg["istio-multicluster:istioVersion"];
        delete cfg["istio-multicluster:istioVersion"];
        await failsNaming("e2e-bad-version", cfg, ["istio-multicluster:istioVersoin: unknown setting", 'did you mean "istioVersion"']);
    }, 20 * MIN);
});

describe("deploy", () => {
    test("preview succeeds", async () => {
        const r = await timed("preview", () => stack.preview());
        expect(r.changeSummary.create).toBeGreaterThan(0);
        for (const n of NAMES) expect(await programObjects(kube[n])).toEqual([]);
    }, 30 * MIN);

    test("up succeeds", async () => {
        // Known bed race (not a program result): kwok marks the chart's istiod pod Ready at once, so Helm's --wait
        // can pass before the real pilot-discovery serves its webhook, and the first Istio CR gets "connection
        // refused" from the fail-closed validator. The operator's readiness gate narrows it but cannot beat kwok;
        // the fix is a kwok stage that leaves istiod pods to the operator. Until then one retry, logged and counted.
        let r;
        try {
            r = await timed("up", () => stack.up({ onEvent: (e) => engineEvents.push({ phase: "up", ...e }), color: "never" }));
        } catch (e) {
            const msg = String((e as Error).message);
            if (!/failed calling webhook "validation\.istio\.io".*connect: connection refused/.test(msg) || process.env.E2E_NO_UP_RETRY === "1") throw e;
            log("up failed on the bed's istiod readiness race (webhook connection refused); retrying once");
            timings["up retries"] = 1;
            r = await timed("up (retry)", () => stack.up({ onEvent: (e) => engineEvents.push({ phase: "up", ...e }), color: "never" }));
        }
        expect(r.summary.result).toBe("succeeded");
        upDone = true;
    }, 60 * MIN);
});

describe("read back from the real API servers", () => {
    beforeAll(() => {
        if (!upDone) throw new Error("up did not succeed");
    });

    test.each(NAMES)("%s: Helm releases deployed at the version under test, istiod Available", async (n) => {
        const releases = await helmReleases(kube[n]);
        // Two networks: every primary gets an east-west gateway (components/mesh.ts). network1 would need only
        // one of cluster1/cluster2; both get one, which is redundant but valid.
        expect(Object.keys(releases).sort()).toEqual(["istio-base", "istio-eastwestgateway", "istiod"]);
        for (const r of Object.values(releases)) {
            expect(r.status).toBe("deployed");
            expect(r.chartVersion).toBe(FROM_VERSION);
        }
        const dep = await kube[n].get(`/apis/apps/v1/namespaces/${ISTIO_NS}/deployments/istiod`);
        expect(dep.status.conditions.find((c: any) => c.type === "Available")?.status).toBe("True");
    });

    test.each(NAMES)("%s: cacerts holds the mesh CA's files (root = stack output, intermediate signed by it, key matches)", async (n) => {
        const root = await stackRoot();
        const s = await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`);
        const files = Object.fromEntries(Object.entries<string>(s.data).map(([k, v]) => [k, b64(v)]));
        expect(Object.keys(files).sort()).toEqual(["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
        expect(normPem(files["root-cert.pem"])).toBe(normPem(root));
        const rootCert = new X509Certificate(root);
        const ca = new X509Certificate(files["ca-cert.pem"]);
        expect(ca.verify(rootCert.publicKey)).toBe(true);
        expect(ca.ca).toBe(true);
        expect(ca.subject).toContain(`L=${n}`);
        expect(ca.checkPrivateKey(createPrivateKey(files["ca-key.pem"]))).toBe(true);
        expect(normPem(files["cert-chain.pem"])).toBe(normPem(`${normPem(files["ca-cert.pem"])}\n${normPem(root)}`));
        // The intermediate is the one in the stack's state (tls LocallySignedCert of this cluster).
        const state = await stack.exportStack();
        const certs = (state.deployment.resources as any[]).filter((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert").map((r) => normPem(r.outputs?.certPem ?? ""));
        expect(certs).toContain(normPem(files["ca-cert.pem"]));
    });

    test.each(NAMES)("%s: a remote secret for every other cluster, in Istio's format", async (n) => {
        const c = clusters.find((x) => x.name === n)!;
        for (const src of others(n)) {
            const s = await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/istio-remote-secret-${src}`);
            expect(s.metadata.labels["istio/multiCluster"]).toBe("true");
            expect(s.metadata.annotations["networking.istio.io/cluster"]).toBe(src);
            const kc = parseYaml(b64(s.data[src]));
            expect(kc.clusters[0].cluster.server).toBe(clusters.find((x) => x.name === src)!.apiServerUrl);
            expect(kc.users[0].user.token).toBeTruthy();
            expect(Object.keys(kc.users[0].user)).toEqual(["token"]);
        }
        expect(c).toBeDefined();
    });

    test.each(NAMES)("%s: east-west gateway (Service with a loopback LB address, Deployment injected) and the cross-network Gateway", async (n) => {
        const svc = await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/services/istio-eastwestgateway`);
        expect(svc.metadata.labels["topology.istio.io/network"]).toBe(NETWORK[n]);
        const ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
        expect(isLoopbackHost(ip)).toBe(true);
        expect((await stack.outputs()).eastWestGatewayAddresses.value[n]).toBe(ip);
        const dep = await kube[n].get(`/apis/apps/v1/namespaces/${ISTIO_NS}/deployments/istio-eastwestgateway`);
        expect(dep.status.conditions.find((c: any) => c.type === "Available")?.status).toBe("True");
        // `image: auto` is filled in by istiod's injection webhook: the real istiod answered for the gateway's pods.
        const pods = await kube[n].list(`/api/v1/namespaces/${ISTIO_NS}/pods`, "labelSelector=istio%3Deastwestgateway");
        expect(pods.length).toBeGreaterThan(0);
        for (const p of pods) expect(p.spec.containers.find((c: any) => c.name === "istio-proxy").image).not.toBe("auto");
        const gw = await kube[n].get(`/apis/networking.istio.io/v1/namespaces/${ISTIO_NS}/gateways/cross-network-gateway`);
        expect(gw.spec.servers[0].tls.mode).toBe("AUTO_PASSTHROUGH");
    });

    test.each(NAMES)("reader token of %s authenticates as istio-reader-service-account and can read but not write", async (src) => {
        const srcCluster = clusters.find((x) => x.name === src)!;
        for (const target of others(src)) {
            const s = await kube[target].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/istio-remote-secret-${src}`);
            const token: string = parseYaml(b64(s.data[src])).users[0].user.token;
            const review = await kube[src].create("/apis/authentication.k8s.io/v1/tokenreviews", { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } });
            expect(review.status.authenticated).toBe(true);
            expect(review.status.user.username).toBe("system:serviceaccount:istio-system:istio-reader-service-account");
            const asReader = new Kube({ server: srcCluster.apiServerUrl, ca: Kube.fromKubeconfig(srcCluster.kubeconfig).creds.ca, token }, `${src} as reader`);
            const can = async (verb: string, resource: string, group = "") =>
                (await asReader.create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: { resourceAttributes: { verb, resource, group } } })).status.allowed;
            for (const [resource, group] of [["services", ""], ["endpointslices", "discovery.k8s.io"], ["pods", ""], ["nodes", ""]]) {
                for (const verb of ["get", "list", "watch"]) expect([resource, verb, await can(verb, resource, group)]).toEqual([resource, verb, true]);
                for (const verb of ["create", "delete"]) expect([resource, verb, await can(verb, resource, group)]).toEqual([resource, verb, false]);
            }
            expect((await asReader.list("/api/v1/services")).length).toBeGreaterThan(0);
            const denied = await asReader.create("/api/v1/namespaces/sample/services", { apiVersion: "v1", kind: "Service", metadata: { name: "e2e-denied" }, spec: { ports: [{ port: 1 }] } }, true).then(() => undefined, (e) => e);
            expect(denied).toBeInstanceOf(KubeError);
            expect((denied as KubeError).status).toBe(403);
        }
    });

    test.each(NAMES)("%s: samples were created (not evidence under kwok: no container runs)", async (n) => {
        const ns = await kube[n].get("/api/v1/namespaces/sample");
        expect(ns.metadata.labels["istio-injection"]).toBe("enabled");
        expect(await kube[n].get("/api/v1/namespaces/sample/services/helloworld")).toBeDefined();
        expect((await kube[n].list("/apis/batch/v1/namespaces/sample/jobs")).length).toBeGreaterThan(0);
    });
});

describe("real istiod (pilot-discovery out of cluster, listeners on the istiod ClusterIP)", () => {
    beforeAll(() => {
        if (!upDone) throw new Error("up did not succeed");
    });

    test.each(NAMES)("%s: runs the version under test and uses the mesh root, not a self-signed one", async (n) => {
        const root = normPem(await stackRoot());
        expect(istiod[n].running?.version).toBe(FROM_VERSION);
        // istiod writes its root into istio-ca-root-cert in every namespace it serves.
        for (const ns of [ISTIO_NS, "sample"]) {
            const cm: any = await eventually<any>(`istio-ca-root-cert in ${n}/${ns}`, () => kube[n].getOrUndefined(`/api/v1/namespaces/${ns}/configmaps/istio-ca-root-cert`), 60_000);
            expect(normPem(cm.data["root-cert.pem"])).toBe(root);
        }
        const log = fs.readFileSync(istiod[n].logFile, "utf8");
        expect(log).not.toMatch(/Use self-signed certificate as the CA certificate/i);
    });

    test("every listener of pilot-discovery (and of the bed's processes) is on 127.0.0.0/8 (ss -ltnp)", () => {
        const out = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" });
        const rows = out.split("\n").filter(Boolean).map((l) => {
            const f = l.trim().split(/\s+/);
            return { local: f[3], proc: /users:\(\("([^"]+)"/.exec(l)?.[1] ?? "?" };
        });
        const bedProcs = /^(pilot-discovery|etcd|kube-apiserver|kube-controller|kube-scheduler|kwok)/;
        const ours = rows.filter((r) => bedProcs.test(r.proc));
        log(`listeners: ${ours.map((r) => `${r.proc} ${r.local}`).join(", ")}`);
        const pilot = ours.filter((r) => r.proc.startsWith("pilot-discovery"));
        expect(pilot.length).toBeGreaterThanOrEqual(NAMES.length * 6);
        for (const r of ours) expect([r.proc, r.local]).toEqual([r.proc, expect.stringMatching(/^127\.\d+\.\d+\.\d+:\d+$/)]);
    });

    test.each(NAMES)("%s: /debug/clusterz lists both other clusters as synced", async (n) => {
        const list = await eventually(`${n} clusterz synced`, () => clusterzSynced(n), 5 * MIN, 2000);
        log(`${n} clusterz ${JSON.stringify(list)}`);
    });

    test.each(NAMES)("%s: the registry knows the other clusters' helloworld Services (their ClusterIPs per cluster ID)", async (n) => {
        const expected: Record<string, string> = {};
        for (const c of NAMES) expected[c] = (await kube[c].get("/api/v1/namespaces/sample/services/helloworld")).spec.clusterIP;
        const svc = await eventually(
            `${n} registry has helloworld from every cluster`,
            async () => {
                const all = (await istiod[n].debug("/debug/registryz")) as any[];
                const s = all.find((x) => x.hostname === "helloworld.sample.svc.cluster.local");
                return s && NAMES.every((c) => s.clusterVIPs?.Addresses?.[c]?.includes(expected[c])) ? s : undefined;
            },
            3 * MIN,
            2000,
        );
        expect(Object.keys(svc.clusterVIPs.Addresses).sort()).toEqual(NAMES);
        // Unproven: endpoints. Pod IPs are in 127/8, which Kubernetes refuses in EndpointSlices, so there are
        // none to discover in any cluster (see the file comment).
    });

    test.each(NAMES)("%s: webhooks' caBundle patched with the mesh root", async (n) => {
        const root = normPem(await stackRoot());
        const m = await kube[n].get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector");
        for (const w of m.webhooks) expect(normPem(b64(w.clientConfig.caBundle ?? ""))).toBe(root);
        const validators = (await kube[n].list("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations")).filter((v) => /istio/.test(v.metadata.name));
        expect(validators.length).toBeGreaterThan(0);
        for (const v of validators) {
            for (const w of v.webhooks) {
                expect([v.metadata.name, w.failurePolicy]).toEqual([v.metadata.name, "Fail"]);
                expect(normPem(b64(w.clientConfig.caBundle ?? ""))).toBe(root);
            }
        }
    });

    test.each(NAMES)("%s: a Pod created in `sample` comes back injected", async (n) => {
        const pod = await kube[n].create("/api/v1/namespaces/sample/pods", {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "e2e-injected", labels: { app: "e2e" } },
            spec: { containers: [{ name: "app", image: "docker.io/curlimages/curl:8.16.0", command: ["sleep", "3600"] }] },
        }, true);
        const all = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].map((c: any) => c.name);
        expect(all).toContain("istio-proxy");
        const proxy = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c: any) => c.name === "istio-proxy");
        expect(proxy.image).toContain(`:${istiod[n].running?.version}`);
        expect(JSON.stringify(proxy.env)).toContain(n); // ISTIO_META_CLUSTER_ID
        expect(pod.metadata.annotations["sidecar.istio.io/status"]).toBeDefined();
    });

    test.each(NAMES)("%s: the validating webhook rejects an invalid Istio object, accepts a valid one, and fails closed without istiod", async (n) => {
        const vs = (name: string, http: unknown) => ({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace: "sample" }, spec: { hosts: ["helloworld"], http } });
        const path = "/apis/networking.istio.io/v1/namespaces/sample/virtualservices";
        // A route and a redirect in one HTTP route: the CRD schema takes it, istiod's validation does not.
        const invalid = await kube[n].create(path, vs("e2e-invalid", [{ route: [{ destination: { host: "helloworld" } }], redirect: { uri: "/x" } }]), true).then(() => undefined, (e) => e);
        expect(invalid).toBeInstanceOf(KubeError);
        expect(String((invalid as Error).message)).toMatch(/admission webhook "[^"]*validation\.istio\.io" denied the request/);
        const valid = vs("e2e-valid", [{ route: [{ destination: { host: "helloworld" } }] }]);
        expect((await kube[n].create(path, valid, true)).metadata.name).toBe("e2e-valid");
        // Fail closed: with istiod stopped, the same valid object is refused (failurePolicy Fail).
        await istiod[n].pause();
        try {
            const refused = await kube[n].create(path, valid, true).then(() => undefined, (e) => e);
            expect(refused).toBeInstanceOf(KubeError);
            expect(String((refused as Error).message)).toMatch(/failed calling webhook/);
        } finally {
            istiod[n].resume();
        }
        await eventually(`${n} istiod back`, () => kube[n].create(path, valid, true), 2 * MIN, 2000);
    });
});

describe("steady state", () => {
    beforeAll(() => {
        if (!upDone) throw new Error("up did not succeed");
    });

    test("a second up changes nothing (expectNoChanges)", async () => {
        const r = await timed("second up", () => stack.up({ expectNoChanges: true, color: "never" }));
        expect(r.summary.result).toBe("succeeded");
        expect(Object.keys(r.summary.resourceChanges ?? {}).filter((k) => k !== "same")).toEqual([]);
    }, 30 * MIN);

    test("refresh finds no drift", async () => {
        const r = await timed("refresh", () => stack.refresh({ color: "never" }));
        expect(r.summary.result).toBe("succeeded");
        expect(Object.keys(r.summary.resourceChanges ?? {}).filter((k) => k !== "same")).toEqual([]);
    }, 30 * MIN);
});

describe(`upgrade ${FROM_VERSION} → ${TO_VERSION}`, () => {
    let before: Record<string, Record<string, string>> = {};
    let cacertsBefore: Record<string, string> = {};
    let upgraded = false;

    beforeAll(() => {
        if (!upDone) throw new Error("up did not succeed");
    });

    test("up with the new version and its charts succeeds", async () => {
        for (const n of NAMES) {
            before[n] = await uidsOf(kube[n]);
            cacertsBefore[n] = JSON.stringify((await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`)).data);
        }
        writeStackConfig(env, STACK, configFor(TO_VERSION));
        const r = await timed("upgrade up", () => stack.up({ onEvent: (e) => engineEvents.push({ phase: "upgrade", ...e }), color: "never" }));
        expect(r.summary.result).toBe("succeeded");
        expect(r.summary.resourceChanges?.create ?? 0).toBe(0);
        expect(r.summary.resourceChanges?.delete ?? 0).toBe(0);
        expect(r.summary.resourceChanges?.replace ?? 0).toBe(0);
        upgraded = true;
    }, 60 * MIN);

    test.each(NAMES)("%s: releases upgraded, no CA Secret or namespace replaced", async (n) => {
        expect(upgraded).toBe(true);
        const releases = await helmReleases(kube[n]);
        for (const [name, r] of Object.entries(releases)) {
            expect([name, r.status, r.chartVersion]).toEqual([name, "deployed", TO_VERSION]);
            expect(r.revision).toBeGreaterThan(1);
        }
        expect(await uidsOf(kube[n])).toEqual(before[n]);
        expect(JSON.stringify((await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`)).data)).toBe(cacertsBefore[n]);
    });

    test.each(NAMES)("%s: istiod restarted on the new version and re-synced", async (n) => {
        await eventually(`${n} istiod on ${TO_VERSION}`, async () => istiod[n].running?.version === TO_VERSION, 3 * MIN);
        expect(istiod[n].starts.map((s) => s.version)).toContain(FROM_VERSION);
        await eventually(`${n} clusterz synced after upgrade`, () => clusterzSynced(n), 5 * MIN, 2000);
        const root = normPem(await stackRoot());
        const m = await kube[n].get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector");
        for (const w of m.webhooks) expect(normPem(b64(w.clientConfig.caBundle ?? ""))).toBe(root);
    });

    test("the next up changes nothing", async () => {
        expect(upgraded).toBe(true);
        const r = await timed("up after upgrade", () => stack.up({ expectNoChanges: true, color: "never" }));
        expect(r.summary.result).toBe("succeeded");
    }, 30 * MIN);
});

describe("destroy", () => {
    beforeAll(() => {
        if (!upDone) throw new Error("up did not succeed");
    });

    test("with the default protected root, destroy stops as the README says and deletes nothing", async () => {
        const err = await timed("destroy (protected)", () => stack.destroy({ color: "never" }).then(() => undefined, (e: Error) => e));
        expect(err).toBeDefined();
        expect(String(err?.message)).toMatch(/protect/i);
        for (const n of NAMES) {
            expect(await kube[n].getOrUndefined(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`)).toBeDefined();
            expect((await helmReleases(kube[n])).istiod?.status).toBe("deployed");
        }
    }, 30 * MIN);

    test("with ca.allowRootRotation, destroy leaves none of the program's objects on any API server", async () => {
        const version = istiod[NAMES[0]].running?.version ?? TO_VERSION;
        writeStackConfig(env, STACK, configFor(version, { allowRootRotation: true }));
        const up = await timed("up (unprotect root)", () => stack.up({ color: "never" }));
        expect(up.summary.result).toBe("succeeded");
        const r = await timed("destroy", () => stack.destroy({ color: "never", onEvent: (e) => engineEvents.push({ phase: "destroy", ...e }) }));
        expect(r.summary.result).toBe("succeeded");
        for (const n of NAMES) {
            const left = await eventually(`${n} empty`, async () => {
                const objs = await programObjects(kube[n]);
                return objs.length === 0 ? objs : undefined;
            }, 3 * MIN, 3000).catch(async () => programObjects(kube[n]));
            expect([n, left]).toEqual([n, []]);
        }
        await stack.workspace.removeStack(STACK);
    }, 60 * MIN);
});
