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
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { Bed, BedCluster, bedIstioVersions, buildBed, cacheDir, chartsDir, startBed } from "./lib/bed";
import { ISTIO_NS, IstiodOperator } from "./lib/istiod";
import { Kube, eventually } from "./lib/kube";
import * as checks from "./lib/meshChecks";
import { helmReleases, makeLog, makeTimed, normPem, othersOf } from "./lib/meshChecks";
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

const log = makeLog("e2e");
const timings: Record<string, number> = {};
const timed = makeTimed(timings, log);

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

const others = (name: string) => othersOf(NAMES, name);
const serverOf = (name: string) => clusters.find((x) => x.name === name)!.apiServerUrl;

function configFor(version: string, extra: { allowRootRotation?: boolean; extra?: Record<string, unknown> } = {}) {
    return meshConfig({
        istioVersion: version,
        chartSource: chartsDir(version),
        clusters: clusters.map((c) => ({ name: c.name, network: NETWORK[c.name], kubeconfigPath: c.kubeconfigPath })),
        ...extra,
    });
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
    checks.requireBedFiles([FROM_VERSION, TO_VERSION]);
    bed = await timed("bed start", () => startBed(NAMES, path.join(root, "bed")));
    clusters = checks.bedClusters(bed, NAMES);
    checks.startIstiods(clusters, { root, log, gatePodReadiness: true }, kube, istiod);
    env = preparePulumi(root, pathDirs);
    // PulumiCommand.get({ root }) runs <root>/bin/pulumi.
    cliRoot = path.join(root, "cli");
    fs.mkdirSync(cliRoot, { recursive: true });
    fs.symlinkSync(cliBin, path.join(cliRoot, "bin"));
    stack = await openStack(env, cliRoot, STACK);
    writeStackConfig(env, STACK, configFor(FROM_VERSION));
}, 120 * MIN);

afterAll(async () => {
    await checks.stopIstiodsAndBed(istiod, bed, log);
    const engine = Object.fromEntries(
        ["up", "upgrade", "destroy"].map((phase) => {
            const t = updateTimings(engineEvents.filter((e) => e.phase === phase));
            return [phase, { makespan: t.makespan, timeToMesh: t.timeToMesh, slowest: slowestRows(t) }];
        }),
    );
    const summary = { fromVersion: FROM_VERSION, toVersion: TO_VERSION, seconds: timings, engine, istiodStarts: checks.istiodStarts(istiod) };
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
        await checks.expectDeploymentAvailable(kube[n], "istiod");
    });

    test.each(NAMES)("%s: cacerts holds the mesh CA's files (root = stack output, intermediate signed by it, key matches)", async (n) => {
        const files = await checks.expectCacertsOfMeshCa(kube[n], n, await stackRoot());
        // The intermediate is the one in the stack's state (tls LocallySignedCert of this cluster).
        const state = await stack.exportStack();
        const certs = (state.deployment.resources as any[]).filter((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert").map((r) => normPem(r.outputs?.certPem ?? ""));
        expect(certs).toContain(normPem(files["ca-cert.pem"]));
    });

    test.each(NAMES)("%s: a remote secret for every other cluster, in Istio's format", async (n) => {
        const c = clusters.find((x) => x.name === n)!;
        await checks.expectRemoteSecrets(kube[n], others(n), serverOf, { tokenPresent: true });
        expect(c).toBeDefined();
    });

    test.each(NAMES)("%s: east-west gateway (Service with a loopback LB address, Deployment injected) and the cross-network Gateway", async (n) => {
        const ip = await checks.expectEastWestService(kube[n], NETWORK[n]);
        expect((await stack.outputs()).eastWestGatewayAddresses.value[n]).toBe(ip);
        // `image: auto` is filled in by istiod's injection webhook: the real istiod answered for the gateway's pods.
        const pods = await checks.expectEastWestPods(kube[n]);
        for (const p of pods) expect(p.spec.containers.find((c: any) => c.name === "istio-proxy").image).not.toBe("auto");
        await checks.expectCrossNetworkGateway(kube[n]);
    });

    test.each(NAMES)("reader token of %s authenticates as istio-reader-service-account and can read but not write", async (src) => {
        await checks.expectReaderToken(kube, clusters.find((x) => x.name === src)!, others(src), { readVerbs: ["get", "list", "watch"], writeRefused: true });
    });

    test.each(NAMES)("%s: samples were created (not evidence under kwok: no container runs)", async (n) => {
        await checks.expectSampleNamespace(kube[n]);
        expect((await kube[n].list("/apis/batch/v1/namespaces/sample/jobs")).length).toBeGreaterThan(0);
    });
});

describe("real istiod (pilot-discovery out of cluster, listeners on the istiod ClusterIP)", () => {
    beforeAll(() => {
        if (!upDone) throw new Error("up did not succeed");
    });

    test.each(NAMES)("%s: runs the version under test and uses the mesh root, not a self-signed one", async (n) => {
        await checks.expectServesMeshRoot(kube[n], istiod[n], n, FROM_VERSION, normPem(await stackRoot()), 60_000);
    });

    test("every listener of pilot-discovery (and of the bed's processes) is on 127.0.0.0/8 (ss -ltnp)", () => {
        const ours = checks.bedListeners();
        log(`listeners: ${ours.map((r) => `${r.proc} ${r.local}`).join(", ")}`);
        checks.expectListenersOnLoopback(ours, NAMES.length * 6);
    });

    test.each(NAMES)("%s: /debug/clusterz lists both other clusters as synced", async (n) => {
        await checks.expectClusterzSynced(istiod[n], n, others(n), log);
    });

    test.each(NAMES)("%s: the registry knows the other clusters' helloworld Services (their ClusterIPs per cluster ID)", async (n) => {
        await checks.expectRegistryHasHelloworld(kube, istiod[n], n, NAMES);
        // Unproven: endpoints. Pod IPs are in 127/8, which Kubernetes refuses in EndpointSlices, so there are
        // none to discover in any cluster (see the file comment).
    });

    test.each(NAMES)("%s: webhooks' caBundle patched with the mesh root", async (n) => {
        await checks.expectWebhooksCaBundle(kube[n], normPem(await stackRoot()));
    });

    test.each(NAMES)("%s: a Pod created in `sample` comes back injected", async (n) => {
        const pod = await checks.createSamplePod(kube[n]);
        const all = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].map((c: any) => c.name);
        expect(all).toContain("istio-proxy");
        const proxy = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c: any) => c.name === "istio-proxy");
        expect(proxy.image).toContain(`:${istiod[n].running?.version}`);
        expect(JSON.stringify(proxy.env)).toContain(n); // ISTIO_META_CLUSTER_ID
        expect(pod.metadata.annotations["sidecar.istio.io/status"]).toBeDefined();
    });

    test.each(NAMES)("%s: the validating webhook rejects an invalid Istio object, accepts a valid one, and fails closed without istiod", async (n) => {
        await checks.expectInvalidIstioObjectDenied(kube[n]);
        const valid = checks.virtualService("e2e-valid", [{ route: [{ destination: { host: "helloworld" } }] }]);
        expect((await kube[n].create(checks.VIRTUAL_SERVICES, valid, true)).metadata.name).toBe("e2e-valid");
        // Fail closed: with istiod stopped, the same valid object is refused (failurePolicy Fail).
        await checks.expectValidationFailsClosed(kube[n], istiod[n], n, valid, 2000);
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
        await checks.expectReleasesUpgraded(kube[n], TO_VERSION);
        expect(await uidsOf(kube[n])).toEqual(before[n]);
        expect(JSON.stringify((await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`)).data)).toBe(cacertsBefore[n]);
    });

    test.each(NAMES)("%s: istiod restarted on the new version and re-synced", async (n) => {
        await checks.expectIstiodUpgraded(kube[n], istiod[n], n, { from: FROM_VERSION, to: TO_VERSION, others: others(n), meshRoot: stackRoot });
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
