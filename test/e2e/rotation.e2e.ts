/**
 * Trust rotation (docs/rotation.md) on the REAL Pulumi engine: the CLI 3.274.1 and pulumi-resource-kubernetes
 * 4.25.0 built by the bed, the program run inline (lib/stack.ts), the bed's real API servers and the real
 * pilot-discovery per cluster (lib/istiod.ts). Every step is ONE `up` followed by `preview({ expectNoChanges: true })`.
 *
 * Topology: E2E_TOPOLOGY (lib/topology.ts), by default 3 clusters on 2 networks (N·(N−1) remote secrets and reader
 * tokens; every check is written for N clusters).
 *
 * Order, one stack:
 * 1. The program as it was before the kubernetes providers set `enableSecretMutable` (lib/engine.ts: a resource
 *    transform drops it from every provider, so the provider's default, false, applies): first `up`, then a reader-token rotation
 *    and an intermediate re-issue, measured: what the engine does to the token Secrets, the remote secrets and
 *    `cacerts` (a Kubernetes watch sees each DELETE, ADD and in-place MODIFY to the millisecond), clusterz sampled
 *    every ~200 ms on every istiod, istiod restarts.
 * 2. The same stack's next `up` with the current program: only the providers update, nothing is replaced, no
 *    Secret is touched; then no changes.
 * 3. The same two rotations with `enableSecretMutable` (the current program), measured the same way.
 * 4. The root in stages: trust-both, reissue, drop-old, then rootGeneration 2 without a stage. At each: protect
 *    flags and the roots in the engine's state, what the engine did (cacerts updated in place, the old root
 *    deleted only in the last stage), every real istiod started or hot-reloaded with the stage's `cacerts` (no
 *    refusal in its log), publishes exactly the stage's roots, stays synced; workload certificates issued by the
 *    real istiods (lib/istioCa.ts, CreateCertificate on 15012) and signed with openssl from the old and the new
 *    intermediates verify against what each istiod publishes, or are refused once the old root is dropped.
 * The run writes rotation-report.json into its work dir.
 *
 * Stand-ins, named where they are used: the tls provider (test/e2e/tls-stand-in/), kwok's pods, istiod outside
 * the cluster (one process per cluster: a restart is a gap the bed shows and a Deployment rollout would not). The
 * bed's istiod keeps running while `cacerts` is absent (`keepRunningWithoutCacerts`), as a pod is not restarted
 * when a Secret it mounts is deleted. The provider is 4.25.0 while the SDK is 4.34.2.
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml } from "yaml";
import { Bed, BedCluster, bedIstioVersions, buildBed, cacheDir, chartsDir, startBed } from "./lib/bed";
import { PROVIDER_TYPE, StepResult, programWithoutSecretMutable, providerSecretMutable, upThenNoChanges } from "./lib/engine";
import { workloadCertFromIstiod } from "./lib/istioCa";
import { ISTIO_NS, IstiodOperator } from "./lib/istiod";
import { Kube, KubeError, b64, eventually, sleep } from "./lib/kube";
import * as checks from "./lib/meshChecks";
import { makeLog, makeTimed } from "./lib/meshChecks";
import { SecretHistory, SecretWatch } from "./lib/secretWatch";
import { PulumiEnv, TLS_STAND_IN, changesOf, meshConfig, meshProgram, openStack, preparePulumi, stateResources, writeStackConfig } from "./lib/stack";
import { loadTopology } from "./lib/topology";

const topology = loadTopology();
const NAMES = topology.names;
const others = (n: string) => topology.others(n);
const PAIRS = NAMES.flatMap((s) => others(s).map((t) => [s, t] as const));
const MIN = 60_000;
const VERSION = process.env.E2E_FROM_VERSION ?? bedIstioVersions()[0] ?? "1.30.5";
const STACK = "rotation";
/** Sampling goes on this long after the no-change preview. */
const SETTLE_MS = 2000;
const ROOT_TYPES = ["tls:index/privateKey:PrivateKey", "tls:index/selfSignedCert:SelfSignedCert"];

const log = makeLog("rotation-e2e");
const timings: Record<string, number> = {};
const timed = makeTimed(timings, log);

let root: string;
let bed: Bed | undefined;
let clusters: BedCluster[] = [];
let env: PulumiEnv;
let stack: Stack;
let watch: SecretWatch;
const kube: Record<string, Kube> = {};
const istiod: Record<string, IstiodOperator> = {};
const report: Record<string, unknown> = {};

/** What the stack is asked for: reader-token generation, every cluster's intermediate generation, the CA stage. */
interface Settings {
    tokens: number;
    intermediates: number;
    ca?: Record<string, unknown>;
}
const settings: Settings = { tokens: 1, intermediates: 1 };

function config(s: Settings): Record<string, unknown> {
    const cfg = meshConfig({
        istioVersion: VERSION,
        chartSource: chartsDir(VERSION),
        clusters: clusters.map((c) => ({ name: c.name, network: topology.networkOf(c.name), kubeconfigPath: c.kubeconfigPath })),
        extra: {
            "istio-multicluster:readerTokens": { generation: s.tokens },
            "istio-multicluster:ca": {
                allowRootRotation: false,
                ...(s.intermediates > 1 ? { intermediateGenerations: Object.fromEntries(NAMES.map((n) => [n, s.intermediates])) } : {}),
                ...s.ca,
            },
        },
    });
    // No samples: a rotation's evidence is the engine's operations, the Secrets, the real istiods and the workload
    // certificates they issue (lib/istioCa.ts); under kwok the sample pods run nothing and the verification Jobs
    // "complete" because kwok says so, so they would only add engine time (Jobs replaced at every istiod change).
    cfg["istio-multicluster:samples"] = { enabled: false };
    return cfg;
}

// ---- what the engine and the istiods did in a step --------------------------------------------------------

/** Samples every istiod's /debug/clusterz until stopped; returns each sample where a remote cluster was not synced. */
function sampleClusterz(): { stop: () => Promise<{ samples: number; notSynced: string[] }> } {
    let running = true;
    let samples = 0;
    const notSynced: string[] = [];
    const loop = (async () => {
        while (running) {
            for (const n of NAMES) {
                const t = new Date().toISOString().slice(11, 23);
                try {
                    const list = (await istiod[n].debug("/debug/clusterz")) as { id: string; syncStatus: string }[];
                    for (const o of others(n)) {
                        const c = list.find((x) => x.id === o);
                        if (c?.syncStatus !== "synced") notSynced.push(`${t} ${n} sees ${o}: ${c?.syncStatus ?? "absent"}`);
                    }
                } catch (e) {
                    notSynced.push(`${t} ${n}: clusterz unreachable (${(e as Error).message.slice(0, 80)})`);
                }
            }
            samples++;
            await sleep(200);
        }
    })();
    return {
        stop: async () => {
            running = false;
            await loop;
            return { samples, notSynced };
        },
    };
}

const logSize = (n: string) => fs.statSync(istiod[n].logFile).size;
const logSince = (n: string, offset: number) => fs.readFileSync(istiod[n].logFile, "utf8").slice(offset);

interface Measured {
    step: StepResult;
    /** What the watch saw happen to cacerts, the remote secrets and the reader tokens. */
    secrets: SecretHistory[];
    sampled: { samples: number; notSynced: string[] };
    restarts: Record<string, number>;
    logOffsets: Record<string, number>;
}

/**
 * One measured step: the settings written, ONE `up` and the no-change preview, clusterz sampled all along (the
 * preview, 10-20 s, runs after the up's last write: istiod's reloads and restarts happen within it), the Secrets of
 * istio-system watched, istiod restarts counted.
 */
async function measuredStep(label: string, s: Settings): Promise<Measured> {
    const starts = Object.fromEntries(NAMES.map((n) => [n, istiod[n].starts.length]));
    const logOffsets = Object.fromEntries(NAMES.map((n) => [n, logSize(n)]));
    const since = Date.now();
    const sampler = sampleClusterz();
    writeStackConfig(env, STACK, config(s));
    let step: StepResult;
    try {
        step = await timed(`${label}: up + preview`, () => upThenNoChanges(stack));
    } finally {
        await sleep(SETTLE_MS);
    }
    const sampled = await sampler.stop();
    const secrets = watch.history(/^(cacerts|istio-remote-secret-|istio-reader-token-)/, since);
    const restarts = Object.fromEntries(NAMES.map((n) => [n, istiod[n].starts.length - starts[n]]));
    timings[`${label}: up`] = Math.round(step.upSeconds * 10) / 10;
    timings[`${label}: preview (expectNoChanges)`] = Math.round(step.previewSeconds * 10) / 10;
    report[label] = {
        changes: changesOf(step.up.summary.resourceChanges),
        secretOperations: step.log.done().filter((o) => o.includes("kubernetes:core/v1:Secret")),
        otherOperations: step.log.byOp(),
        slowest: step.log.durations(8),
        slowestWithSame: step.log.durations(5, true),
        previewSlowest: step.previewLog.durations(5, true),
        outsideOperations: step.quiet,
        secrets: secrets.map((h) => `${h.cluster}/${h.name}: ${h.what}${h.absentMs !== undefined ? ` (absent ${h.absentMs} ms)` : ""}`),
        clusterzSamples: sampled.samples,
        notSynced: sampled.notSynced,
        istiodRestarts: restarts,
    };
    log(`${label}: ${JSON.stringify(report[label])}`);
    return { step, secrets, sampled, restarts, logOffsets };
}

/** The watch's verdict on one Secret of one cluster. */
const historyOf = (m: Measured, cluster: string, name: string) => m.secrets.find((h) => h.cluster === cluster && h.name === name)?.what ?? "untouched";
/** The engine's finished operations on the resource `name` (e.g. "mesh-cluster1-to-cluster2-remote-secret"), sorted. */
const opsOn = (m: Measured, name: string) => m.step.log.on(name).sort();
/** A replacement as the engine reports it: its three steps (create-replacement, replace, delete-replaced). */
const REPLACED = ["create-replacement", "delete-replaced", "replace"];
/** The engine replaced `name` deleting it first (delete-before-replace): the old object went before the new one came. */
const deletedFirst = (m: Measured, name: string) => m.step.log.startedBefore(name, "delete-replaced", "create-replacement");

// ---- reader tokens ---------------------------------------------------------------------------------------

const tokenIn = async (target: string, source: string): Promise<string> => {
    const s = await kube[target].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/istio-remote-secret-${source}`);
    return parseYaml(b64(s.data[source])).users[0].user.token;
};
const asReader = (source: string, token: string) => {
    const c = clusters.find((x) => x.name === source)!;
    return new Kube({ server: c.apiServerUrl, ca: Kube.fromKubeconfig(c.kubeconfig).creds.ca, token }, `${source} with a reader token`);
};
const tokenName = (target: string, generation: number) => `istio-reader-token-${target}${generation > 1 ? `-g${generation}` : ""}`;

async function rotateTokens(label: string, generation: number): Promise<{ m: Measured; oldTokens: Record<string, string> }> {
    const oldTokens: Record<string, string> = {};
    for (const [src, tgt] of PAIRS) oldTokens[`${src}->${tgt}`] = await tokenIn(tgt, src);
    settings.tokens = generation;
    const m = await measuredStep(label, settings);
    return { m, oldTokens };
}

/**
 * After a token rotation to `generation`: the engine created each new token before deleting the old one, and deleted
 * every old token only after its last write of a remote secret; the remote secrets hold the new tokens, the old
 * ones get 401, istiod never used a revoked one, clusterz synced.
 */
async function expectTokensRotated(generation: number, r: { m: Measured; oldTokens: Record<string, string> }): Promise<void> {
    const { m } = r;
    for (const [src, tgt] of PAIRS) {
        // The token Secret in the source is renamed: created under the new name, the old name deleted.
        expect({ src, tgt, old: historyOf(m, src, tokenName(tgt, generation - 1)), now: historyOf(m, src, tokenName(tgt, generation)) }).toEqual({ src, tgt, old: "deleted", now: "created" });
        // Create-before-delete: a new name, so the new token exists before the old one is deleted.
        const token = `mesh-${src}-to-${tgt}-reader-token`;
        expect({ src, tgt, ops: opsOn(m, token), newFirst: m.step.log.startedBefore(token, "create-replacement", "delete-replaced") }).toEqual({ src, tgt, ops: REPLACED, newFirst: true });
    }
    const l = m.step.log;
    const lastRemoteSecretWrite = l.last((o) => o.phase === "done" && /-remote-secret$/.test(o.name));
    const firstTokenDelete = l.first((o) => o.phase === "pre" && o.op === "delete-replaced" && /-reader-token$/.test(o.name));
    expect(firstTokenDelete).toBeGreaterThan(lastRemoteSecretWrite);
    for (const [src, tgt] of PAIRS) {
        const live = await kube[src].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/${tokenName(tgt, generation)}`);
        const token = await tokenIn(tgt, src);
        expect(token).toBe(b64(live.data.token));
        expect(token).not.toBe(r.oldTokens[`${src}->${tgt}`]);
        const refused = await eventually(`old reader token of ${src} for ${tgt} refused`, async () => {
            const e = await asReader(src, r.oldTokens[`${src}->${tgt}`]).list("/api/v1/services").then(() => undefined, (err) => err);
            return e instanceof KubeError && e.status === 401 ? e : undefined;
        }, 2 * MIN, 1000);
        expect(refused.status).toBe(401);
        expect((await asReader(src, token).list("/api/v1/services")).length).toBeGreaterThan(0);
    }
    for (const n of NAMES) {
        await checks.expectClusterzSynced(istiod[n], n, others(n), log);
        // istiod never used a revoked token: no 401 from a remote API server in its log since the rotation began.
        expect([n, logSince(n, m.logOffsets[n]).match(/.*Unauthorized.*/g) ?? []]).toEqual([n, []]);
        expect([n, m.restarts[n]]).toEqual([n, 0]);
    }
}

// ---- certificates ----------------------------------------------------------------------------------------

const fingerprints = (bundle: string) => (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new crypto.X509Certificate(p).fingerprint256);
let dir: string;
const file = (name: string, content: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, content);
    return f;
};
async function readCacerts(n: string): Promise<Record<string, string>> {
    const s = await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`);
    return Object.fromEntries(Object.entries<string>(s.data).map(([k, v]) => [k, b64(v)]));
}
/** cacerts of every cluster, by label of the moment it was read. */
const cacerts: Record<string, Record<string, Record<string, string>>> = {};
const readAllCacerts = async (label: string) => {
    cacerts[label] = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await readCacerts(n)] as const)));
};
/** What istiod of `n` publishes as the mesh's trust (istio-ca-root-cert). */
const published = async (n: string): Promise<string> => (await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/configmaps/istio-ca-root-cert`)).data["root-cert.pem"];

/** Workload certificates the real istiod of each cluster issued, by label (leaf file, chain file). */
const issued: Record<string, Record<string, { cert: string; chain: string }>> = {};
/** Asks every real istiod for a workload certificate; it must be signed by the intermediate its cacerts holds. */
async function issueFromIstiods(label: string): Promise<void> {
    issued[label] = {};
    await Promise.all(
        NAMES.map(async (n) => {
            const w = await workloadCertFromIstiod({ kube: kube[n], ip: istiod[n].clusterIP!, rootsPem: await published(n), namespace: ISTIO_NS, serviceAccount: "istio-reader-service-account", dir, label: `istiod-${label}-${n}` });
            issued[label][n] = { cert: file(`istiod-${label}-${n}-leaf.pem`, w.chain[0]), chain: file(`istiod-${label}-${n}-chain.pem`, w.chain.slice(1).join("")) };
            expect(new crypto.X509Certificate(w.chain[0]).checkIssued(new crypto.X509Certificate(cacerts[label][n]["ca-cert.pem"]))).toBe(true);
            expect(new crypto.X509Certificate(w.chain[0]).subjectAltName).toBe(`URI:spiffe://cluster.local/ns/${ISTIO_NS}/sa/istio-reader-service-account`);
        }),
    );
}
const leaves = new Map<string, { cert: string; chain: string }>();
/** A workload certificate signed with openssl by the intermediate cluster `cluster` had at `label`. */
function leaf(label: string, cluster: string) {
    const key = `${label}-${cluster}`;
    if (leaves.has(key)) return leaves.get(key)!;
    const f = cacerts[label][cluster];
    const ext = file(`${key}.ext`, "subjectAltName=URI:spiffe://cluster.local/ns/sample/sa/curl\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
    execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path.join(dir, `${key}.key`), "-out", path.join(dir, `${key}.csr`), "-subj", "/O=cluster.local"], { stdio: "pipe" });
    execFileSync("openssl", ["x509", "-req", "-in", path.join(dir, `${key}.csr`), "-CA", file(`${key}-ca.pem`, f["ca-cert.pem"]), "-CAkey", file(`${key}-ca.key`, f["ca-key.pem"]), "-CAcreateserial", "-days", "1", "-out", path.join(dir, `${key}.pem`), "-extfile", ext], { stdio: "pipe" });
    const l = { cert: path.join(dir, `${key}.pem`), chain: file(`${key}-chain.pem`, f["cert-chain.pem"]) };
    leaves.set(key, l);
    return l;
}
const verifies = (l: { cert: string; chain: string }, trustFile: string) => {
    try {
        execFileSync("openssl", ["verify", "-CAfile", trustFile, "-untrusted", l.chain, l.cert], { stdio: "pipe" });
        return true;
    } catch {
        return false;
    }
};

/** After an intermediate re-issue: every istiod hot-reloaded it (no restart), and issues from the new intermediate. */
async function expectIntermediatesReloaded(label: string, m: Measured, before: string): Promise<void> {
    await readAllCacerts(label);
    for (const n of NAMES) {
        expect(cacerts[label][n]["ca-cert.pem"]).not.toBe(cacerts[before][n]["ca-cert.pem"]);
        expect(cacerts[label][n]["root-cert.pem"]).toBe(cacerts[before][n]["root-cert.pem"]);
        expect([n, m.restarts[n]]).toEqual([n, 0]);
        await eventually(`${n}: istiod reloaded the new intermediate`, async () => /Istiod has detected the newly added intermediate CA and updated its key and certs accordingly/.test(logSince(n, m.logOffsets[n])), 2 * MIN, 1000);
        await checks.expectClusterzSynced(istiod[n], n, others(n), log);
    }
    await eventually(`every istiod issues from its new intermediate`, async () => {
        await issueFromIstiods(label);
        return true;
    }, 2 * MIN, 2000);
    // Same root: certificates from the old intermediates still verify against every cluster's published trust.
    for (const from of NAMES) for (const to of NAMES) expect({ from, to, before: verifies(issued[before][from], file(`published-${label}-${to}.pem`, await published(to))) }).toEqual({ from, to, before: true });
}

// ---- the suite -------------------------------------------------------------------------------------------

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(process.env.E2E_WORK_DIR ?? os.tmpdir(), "istio-mc-rotation-"));
    log(`work dir ${root}; topology ${JSON.stringify(topology.clusters)}; Istio ${VERSION}; bed cache ${cacheDir()}`);
    log(`tls provider: the STAND-IN in ${TLS_STAND_IN} (not the real pulumi-resource-tls)`);
    await timed("bed build/check", async () => buildBed());
    checks.requireBedFiles([VERSION]);
    bed = await timed("bed start", () => startBed(NAMES, path.join(root, "bed")));
    clusters = checks.bedClusters(bed, NAMES);
    checks.startIstiods(clusters, { root, log, gatePodReadiness: true, keepRunningWithoutCacerts: true }, kube, istiod);
    watch = new SecretWatch(kube, ISTIO_NS);
    dir = fs.mkdtempSync(path.join(root, "leaves-"));
    env = preparePulumi(root);
}, 120 * MIN);

afterAll(async () => {
    watch?.stop();
    await checks.stopIstiodsAndBed(istiod, bed, log);
    const summary = { topology: topology.clusters, version: VERSION, seconds: timings, ...report, istiodStarts: checks.istiodStarts(istiod) };
    if (root) fs.writeFileSync(path.join(root, "rotation-report.json"), JSON.stringify(summary, null, 2));
    if (process.env.E2E_TIMINGS_OUT) fs.writeFileSync(process.env.E2E_TIMINGS_OUT, JSON.stringify(summary, null, 2));
    log(`summary: ${JSON.stringify(summary)}; logs and state under ${root}`);
}, 10 * MIN);

let deployed = false;
const requireDeployed = () => {
    if (!deployed) throw new Error("the first up did not succeed");
};

describe("the provider's default, enableSecretMutable false (the program before b4e22a9, through a transform on the providers)", () => {
    test("first up: no kubernetes provider has enableSecretMutable, the mesh synced", async () => {
        // Nor does the environment set it (the provider reads PULUMI_K8S_ENABLE_SECRET_MUTABLE when the input is absent).
        expect([process.env.PULUMI_K8S_ENABLE_SECRET_MUTABLE, env.envVars.PULUMI_K8S_ENABLE_SECRET_MUTABLE]).toEqual([undefined, undefined]);
        stack = await openStack(env, STACK, programWithoutSecretMutable);
        writeStackConfig(env, STACK, config(settings));
        const r = await timed("first up + preview", () => upThenNoChanges(stack));
        timings["first up"] = Math.round(r.upSeconds * 10) / 10;
        timings["first up: preview (expectNoChanges)"] = Math.round(r.previewSeconds * 10) / 10;
        report["first up"] = { changes: changesOf(r.up.summary.resourceChanges), slowest: r.log.durations() };
        const mutable = await providerSecretMutable(stack);
        report.providersBefore = mutable;
        expect(Object.keys(mutable)).toHaveLength(NAMES.length);
        // Not in the providers' inputs: the provider's default (false) applies, as before b4e22a9.
        for (const v of Object.values(mutable)) expect(v).toBeUndefined();
        for (const n of NAMES) await checks.expectClusterzSynced(istiod[n], n, others(n), log);
        await watch.start();
        await readAllCacerts("first");
        await issueFromIstiods("first");
        deployed = true;
    }, 60 * MIN);

    test("reader tokens, generation 2: each new token created before its old one is deleted; every remote secret deleted, then created (delete-before-replace)", async () => {
        requireDeployed();
        const r = await rotateTokens("without secretMutable: tokens g2", 2);
        for (const [src, tgt] of PAIRS) {
            const name = `mesh-${src}-to-${tgt}-remote-secret`;
            expect({ src, tgt, watch: historyOf(r.m, tgt, `istio-remote-secret-${src}`), engine: opsOn(r.m, name), deletedFirst: deletedFirst(r.m, name) }).toEqual({ src, tgt, watch: "replaced", engine: REPLACED, deletedFirst: true });
        }
        await expectTokensRotated(2, r);
        // What it costs: istiod drops the remote cluster while its secret is absent. Recorded in the report.
    }, 30 * MIN);

    test("intermediates, generation 2: cacerts deleted, then created (delete-before-replace); istiod reloads the new files", async () => {
        requireDeployed();
        settings.intermediates = 2;
        const m = await measuredStep("without secretMutable: intermediates g2", settings);
        for (const n of NAMES) {
            const name = `mesh-${n}-cacerts`;
            expect({ n, watch: historyOf(m, n, "cacerts"), engine: opsOn(m, name), deletedFirst: deletedFirst(m, name) }).toEqual({ n, watch: "replaced", engine: REPLACED, deletedFirst: true });
        }
        await expectIntermediatesReloaded("intermediates-g2", m, "first");
    }, 30 * MIN);
});

describe("the same stack with the current program (enableSecretMutable: true)", () => {
    test("its next up updates only the kubernetes providers: nothing replaced, no Secret touched; then no changes", async () => {
        requireDeployed();
        stack = await openStack(env, STACK, meshProgram);
        const m = await measuredStep("current program: first up", settings);
        expect(changesOf(m.step.up.summary.resourceChanges)).toEqual({ update: NAMES.length });
        // Every operation of the up: the providers (one per cluster, `<cluster>-k8s`), updated in place.
        expect(m.step.log.done().sort()).toEqual(NAMES.map((n) => `update ${PROVIDER_TYPE} ${n}-k8s`).sort());
        expect(m.secrets).toEqual([]);
        const mutable = await providerSecretMutable(stack);
        report.providersAfter = mutable;
        for (const v of Object.values(mutable)) expect(String(v)).toBe("true");
        for (const n of NAMES) expect([n, m.restarts[n]]).toEqual([n, 0]);
        expect(m.sampled.notSynced).toEqual([]);
    }, 30 * MIN);

    test("reader tokens, generation 3: new tokens first, remote secrets updated in place, every clusterz sample keeps every cluster", async () => {
        requireDeployed();
        const r = await rotateTokens("with secretMutable: tokens g3", 3);
        for (const [src, tgt] of PAIRS) {
            expect({ src, tgt, watch: historyOf(r.m, tgt, `istio-remote-secret-${src}`), engine: opsOn(r.m, `mesh-${src}-to-${tgt}-remote-secret`) }).toEqual({ src, tgt, watch: "in place", engine: ["update"] });
        }
        await expectTokensRotated(3, r);
        expect(r.m.sampled.samples).toBeGreaterThan(10);
        // The remote cluster never leaves istiod's registry; istiod re-syncs the updated cluster (a "syncing" sample
        // or two is what the update costs).
        expect(r.m.sampled.notSynced.filter((x) => !/: syncing$/.test(x))).toEqual([]);
    }, 30 * MIN);

    test("intermediates, generation 3: cacerts updated in place; istiod hot-reloads, every clusterz sample synced", async () => {
        requireDeployed();
        settings.intermediates = 3;
        const m = await measuredStep("with secretMutable: intermediates g3", settings);
        for (const n of NAMES) expect({ n, watch: historyOf(m, n, "cacerts"), engine: opsOn(m, `mesh-${n}-cacerts`) }).toEqual({ n, watch: "in place", engine: ["update"] });
        await expectIntermediatesReloaded("intermediates-g3", m, "intermediates-g2");
        expect(m.sampled.notSynced).toEqual([]);
    }, 30 * MIN);
});

// ---- root rotation ---------------------------------------------------------------------------------------

const STAGES: { stage: string; ca: Record<string, unknown>; multiroot: boolean; restart: boolean }[] = [
    { stage: "trust-both", ca: { rootRotation: "trust-both" }, multiroot: true, restart: true },
    { stage: "reissue", ca: { rootRotation: "reissue" }, multiroot: true, restart: false },
    { stage: "drop-old", ca: { rootRotation: "drop-old" }, multiroot: true, restart: false },
    { stage: "done", ca: { rootGeneration: 2 }, multiroot: false, restart: true },
];

describe("root rotation, one up per stage, on the real engine and the real istiods", () => {
    const outputs: Record<string, Record<string, any>> = {};
    const g: { g1?: string; g2?: string } = {};
    const BEFORE = "intermediates-g3";

    beforeAll(async () => {
        requireDeployed();
        g.g1 = fingerprints(String((await stack.outputs()).rootCertPem.value))[0];
    });

    /** The generated roots in the engine's state: "<name> protect=<bool>" for key and certificate. */
    const rootsInState = async () =>
        (await stateResources(stack)).filter((r) => ROOT_TYPES.includes(r.type) && /::mesh-ca-root(-g\d+)?$/.test(r.urn)).map((r) => `${r.type.split(":").pop()} ${r.urn.split("::").pop()} protect=${!!r.protect}`).sort();
    const expectedRoots: Record<string, string[]> = {
        "trust-both": ["mesh-ca-root protect=true", "mesh-ca-root-g2 protect=true"],
        reissue: ["mesh-ca-root protect=true", "mesh-ca-root-g2 protect=true"],
        "drop-old": ["mesh-ca-root protect=false", "mesh-ca-root-g2 protect=true"],
        done: ["mesh-ca-root-g2 protect=true"],
    };

    test.each(STAGES.map((s) => [s.stage, s] as const))("stage %s", async (_label, s) => {
        const m = await measuredStep(`root ${s.stage}`, { ...settings, ca: s.ca });
        outputs[s.stage] = Object.fromEntries(Object.entries(await stack.outputs()).map(([k, v]) => [k, v.value]));
        if (s.stage === "trust-both") g.g2 = fingerprints(String(outputs[s.stage].rootCertPem))[1];
        const roots = { "trust-both": [g.g1, g.g2], reissue: [g.g1, g.g2], "drop-old": [g.g2], done: [g.g2] }[s.stage]!;
        expect(fingerprints(String(outputs[s.stage].rootCertPem))).toEqual(roots);
        expect(outputs[s.stage].trustRotation).toEqual({ rootGeneration: s.stage === "done" ? 2 : 1, rootRotation: s.stage === "done" ? "none" : s.stage, readerTokenGeneration: settings.tokens });

        // The engine: the roots and their protect flags in its state; cacerts updated in place everywhere; the old
        // root deleted in the last stage only (it was unprotected in drop-old, one up before).
        const state = await rootsInState();
        report[`root ${s.stage}: roots in state`] = state;
        for (const type of ["PrivateKey", "SelfSignedCert"]) expect(state.filter((x) => x.startsWith(`${type} `)).map((x) => x.slice(type.length + 1))).toEqual(expectedRoots[s.stage]);
        const rootDeletes = m.step.log.done(["delete"]).filter((o) => ROOT_TYPES.some((t) => o.includes(t)));
        expect(rootDeletes.sort()).toEqual(s.stage === "done" ? ROOT_TYPES.map((t) => `delete ${t} mesh-ca-root`).sort() : []);
        // In the last stage cacerts is what drop-old wrote (trust and signer are G+1 in both): untouched.
        const cacertsChange = s.stage === "done" ? { watch: "untouched", engine: [] } : { watch: "in place", engine: ["update"] };
        for (const n of NAMES) expect({ n, watch: historyOf(m, n, "cacerts"), engine: opsOn(m, `mesh-${n}-cacerts`) }).toEqual({ n, ...cacertsChange });
        expect(m.step.log.done(["replace", "create-replacement", "delete-replaced"]).filter((o) => o.includes("kubernetes:core/v1:Secret"))).toEqual([]);
        await readAllCacerts(s.stage);

        for (const n of NAMES) {
            // The chart rendered the env into the Deployment, and the real istiod restarted only when it changed.
            const dep = await kube[n].get(`/apis/apps/v1/namespaces/${ISTIO_NS}/deployments/istiod`);
            const envVars = Object.fromEntries((dep.spec.template.spec.containers.find((c: any) => c.name === "discovery").env ?? []).map((e: any) => [e.name, e.value]));
            expect([n, envVars.ISTIO_MULTIROOT_MESH]).toEqual([n, s.multiroot ? "true" : undefined]);
            // The real istiod publishes exactly the roots of the stage.
            await eventually(`${n} publishes the roots of ${s.stage}`, async () => JSON.stringify(fingerprints(await published(n))) === JSON.stringify(roots), 3 * MIN, 1000);
            await checks.expectClusterzSynced(istiod[n], n, others(n), log);
            expect([n, m.restarts[n]]).toEqual([n, s.restart ? 1 : 0]);
            const text = logSince(n, m.logOffsets[n]);
            // `cacerts` is updated before the istiod release (istiod depends on it), so in trust-both the istiod still
            // running without ISTIO_MULTIROOT_MESH sees the bundle first and refuses it (keeps the old root) until the
            // rollout replaces it. Counted; the process started with the stage's env must accept everything.
            const refusal = /.*(Multi root is disabled|Updating new ROOT-CA not supported|Failed to update new Plug-in CA certs|Failed generating plugged-in istiod key cert).*/g;
            const segments = text.split(/\n==== [^\n]* start /);
            const current = segments[segments.length - 1];
            (report[`root ${s.stage}`] as any).refusalsBeforeRestart = { ...(report[`root ${s.stage}`] as any).refusalsBeforeRestart, [n]: segments.length > 1 ? (segments.slice(0, -1).join("\n").match(refusal)?.length ?? 0) : 0 };
            expect([n, current.match(refusal) ?? []]).toEqual([n, []]);
            if (!s.restart) expect(text).toMatch(/Istiod has detected the newly added intermediate CA and updated its key and certs accordingly/);
            if (s.stage === "drop-old") expect(text).toMatch(/Updating new ROOT-CA/);
        }
        // Stages that only change cacerts are hot reloads: no sample may miss a remote cluster. Stages that change
        // istiod's env restart the bed's single istiod process (a Deployment rollout keeps the old pod serving until
        // the new one is Ready, which the bed cannot show): their samples are reported, and clusterz is synced after.
        if (!s.restart) expect(m.sampled.notSynced).toEqual([]);

        // Workload certificates from the old and the current intermediates against what each real istiod
        // publishes: issued by the real istiods before the rotation and in this stage, and signed with openssl.
        const trust = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, file(`published-${s.stage}-${n}.pem`, await published(n))] as const)));
        await issueFromIstiods(s.stage);
        const oldTrusted = s.stage === "trust-both" || s.stage === "reissue";
        for (const from of NAMES) {
            for (const to of NAMES) {
                expect({ stage: s.stage, from, to, istiodIssuedBefore: verifies(issued[BEFORE][from], trust[to]), istiodIssuedNow: verifies(issued[s.stage][from], trust[to]) }).toEqual({
                    stage: s.stage,
                    from,
                    to,
                    istiodIssuedBefore: oldTrusted,
                    istiodIssuedNow: true,
                });
                expect({ stage: s.stage, from, to, oldIntermediate: verifies(leaf(BEFORE, from), trust[to]), currentIntermediate: verifies(leaf(s.stage, from), trust[to]) }).toEqual({
                    stage: s.stage,
                    from,
                    to,
                    oldIntermediate: oldTrusted,
                    currentIntermediate: true,
                });
            }
        }
    }, 60 * MIN);

    test("validity output after the rotation: the new root and the re-issued intermediates", () => {
        expect(Object.keys(outputs.done.caValidityDays.roots)).toEqual(["g2"]);
        expect(Object.keys(outputs.done.caValidityDays.intermediates).sort()).toEqual([...NAMES].sort());
        for (const n of NAMES) expect(new crypto.X509Certificate(cacerts.done[n]["ca-cert.pem"]).checkIssued(new crypto.X509Certificate(cacerts.done[n]["root-cert.pem"]))).toBe(true);
    });
});
