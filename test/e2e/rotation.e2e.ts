/**
 * Trust rotation on the bed (docs/rotation.md): the program (index.ts, unchanged) under live mocks
 * (lib/liveMocks.ts) on two real API servers, with the real pilot-discovery of Istio 1.30.5 per cluster.
 *
 * - Reader tokens: a generation bump renames each token Secret; the new one is created, the remote secret in the
 *   target updated with it, and the old one deleted only after every registration (what the engine does with a
 *   create-before-delete replacement: LiveMocks.deleteReplaced). Checked: the remote secrets hold the new token,
 *   the old token gets 401 from its API server, /debug/clusterz stays synced on every istiod, sampled every
 *   ~200 ms through the rotation: once with the kubernetes provider's default (a Secret whose data changes is
 *   replaced: deleted, then created, because its name is fixed) and once with PULUMI_K8S_ENABLE_SECRET_MUTABLE
 *   (updated in place).
 * - Root rotation: trust-both, reissue, drop-old, then rootGeneration 2 with no stage. At each stage every real
 *   istiod starts or reloads with that stage's cacerts (no refusal in its log), publishes exactly the roots of
 *   the stage in istio-ca-root-cert, stays synced; and workload certificates issued from the old and the new
 *   intermediates verify (openssl, chain to a root) against what each istiod publishes, or are refused once the
 *   old root is dropped. Secrets are modelled as mutable here (as the runbook asks): with the default, the bed's
 *   istiod operator would stop istiod while `cacerts` is deleted and re-created, which a pod (its mounted Secret
 *   keeps the old files) would not.
 *
 * Workload certificates come from two sources: the real istiods (`CreateCertificate` on 15012, lib/istioCa.ts) and
 * openssl signing with the intermediates read back from `cacerts`.
 *
 * Not proven here (no engine): the engine's ordering itself (cited in docs/rotation.md; modelled by LiveMocks),
 * protect, the real provider's diff; a restart without a gap (the bed runs one istiod process per cluster).
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { Bed, BedCluster, bedIstioVersions, buildBed, cacheDir, chartsDir, startBed } from "./lib/bed";
import { ISTIO_NS, IstiodOperator, tcpOpen } from "./lib/istiod";
import { Kube, KubeError, b64, eventually, sleep } from "./lib/kube";
import { LiveMocks, LiveRun, LiveState, ReleaseDone, runLive } from "./lib/liveMocks";
import * as checks from "./lib/meshChecks";
import { workloadCertFromIstiod } from "./lib/istioCa";
import { makeLog, makeTimed, othersOf } from "./lib/meshChecks";

const NAMES = ["cluster1", "cluster2"];
const MIN = 60_000;
const VERSION = process.env.E2E_FROM_VERSION ?? bedIstioVersions()[0] ?? "1.30.5";

const log = makeLog("rotation-e2e");
const timings: Record<string, number> = {};
const timed = makeTimed(timings, log);

let root: string;
let bed: Bed | undefined;
let clusters: BedCluster[] = [];
const kube: Record<string, Kube> = {};
const istiod: Record<string, IstiodOperator> = {};
const state = new LiveState();
const others = (n: string) => othersOf(NAMES, n);
const report: Record<string, unknown> = {};

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        ...checks.clustersConfig({ istioVersion: VERSION, chartSource: chartsDir(VERSION), clusters: clusters.map((c) => ({ name: c.name, network: "network1", kubeconfigPath: c.kubeconfigPath })) }),
        ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`istio-multicluster:${k}`, v])),
    };
}

const clusterOfServer = (server: string) => clusters.find((c) => c.apiServerUrl.replace(/\/$/, "") === server.replace(/\/$/, ""))?.name;

/**
 * After an istiod release, wait for what its readiness probe would: the real process started from the Deployment's
 * current template (here the version stays the same, so the version alone cannot tell an env change's restart from
 * the process before it), answering /ready and listening for webhooks on :443.
 */
async function afterRelease(r: ReleaseDone): Promise<void> {
    if (r.name !== "istiod" || r.namespace !== ISTIO_NS) return;
    const n = clusterOfServer(r.server)!;
    await eventually(
        `real istiod of ${n} serving the released template`,
        async () => {
            const [dep, svc] = await Promise.all([kube[n].get(`/apis/apps/v1/namespaces/${ISTIO_NS}/deployments/istiod`), kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/services/istiod`)]);
            const running = istiod[n].running;
            if (!running || running.templateHash !== JSON.stringify({ template: dep.spec.template, clusterIP: svc.spec.clusterIP })) return false;
            await istiod[n].debug("/ready");
            return tcpOpen(running.clusterIP, 443);
        },
        4 * MIN,
        500,
    );
}

const newMocks = (label: string, secretMutable = false) =>
    new LiveMocks({ workDir: path.join(root, "live", label), binDir: path.join(cacheDir(), "bin"), state, afterRelease, log, secretMutable });

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

const tokenIn = async (target: string, source: string): Promise<string> => {
    const s = await kube[target].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/istio-remote-secret-${source}`);
    return parseYaml(b64(s.data[source])).users[0].user.token;
};
const asReader = (source: string, token: string) => {
    const c = clusters.find((x) => x.name === source)!;
    return new Kube({ server: c.apiServerUrl, ca: Kube.fromKubeconfig(c.kubeconfig).creds.ca, token }, `${source} with a reader token`);
};
const logSize = (n: string) => fs.statSync(istiod[n].logFile).size;
const logSince = (n: string, offset: number) => fs.readFileSync(istiod[n].logFile, "utf8").slice(offset);

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(process.env.E2E_WORK_DIR ?? os.tmpdir(), "istio-mc-rotation-"));
    log(`work dir ${root}; Istio ${VERSION}; slot ${process.env.ISTIO_MC_BED_SLOT ?? "first free"}`);
    if (process.env.E2E_SKIP_BUILD !== "1") await timed("bed build/check", async () => buildBed());
    checks.requireBedFiles([VERSION], [path.join(cacheDir(), "bin", "helm"), path.join(cacheDir(), "bin", "kubectl")]);
    bed = await timed("bed start", () => startBed(NAMES, path.join(root, "bed")));
    clusters = checks.bedClusters(bed, NAMES);
    checks.startIstiods(clusters, { root, log, gatePodReadiness: true }, kube, istiod);
}, 30 * MIN);

afterAll(async () => {
    await checks.stopIstiodsAndBed(istiod, bed, log);
    const summary = { version: VERSION, seconds: timings, ...report, istiodStarts: checks.istiodStarts(istiod) };
    if (root) fs.writeFileSync(path.join(root, "rotation-report.json"), JSON.stringify(summary, null, 2));
    if (process.env.E2E_TIMINGS_OUT) fs.writeFileSync(process.env.E2E_TIMINGS_OUT, JSON.stringify(summary, null, 2));
    log(`summary: ${JSON.stringify(summary)}`);
}, 5 * MIN);

let first: LiveRun | undefined;
const fingerprints = (bundle: string) => (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new crypto.X509Certificate(p).fingerprint256);

test("first apply: two primaries on one network, remote secrets synced", async () => {
    first = await timed("first apply", () => runLive(config(), newMocks("first")));
    expect(first.mocks.failures).toEqual([]);
    for (const n of NAMES) await checks.expectClusterzSynced(istiod[n], n, others(n), log);
    expect(Object.keys((first.outputs.caValidityDays as any).intermediates).sort()).toEqual(NAMES);
}, 20 * MIN);

// ---- reader tokens ----------------------------------------------------------------------------------------

async function rotateTokens(generation: number, secretMutable: boolean) {
    const label = `tokens-g${generation}${secretMutable ? "-mutable" : ""}`;
    const oldTokens: Record<string, string> = {};
    for (const src of NAMES) for (const tgt of others(src)) oldTokens[`${src}->${tgt}`] = await tokenIn(tgt, src);
    const offsets = Object.fromEntries(NAMES.map((n) => [n, logSize(n)]));
    const sampler = sampleClusterz();
    const mocks = newMocks(label, secretMutable);
    const t0 = Date.now();
    await runLive(config({ readerTokens: { generation } }), mocks);
    const deleted = await mocks.deleteReplaced();
    // Give istiod time to use the new token against the source's API server after the old one is gone.
    await sleep(10_000);
    const sampled = await sampler.stop();
    const replacedRemoteSecrets = mocks.operations.filter((o) => /istio-remote-secret/.test(o.object) && o.replaced?.length).map((o) => o.object);
    report[label] = { seconds: Math.round((Date.now() - t0) / 100) / 10, deleted, replacedRemoteSecrets, clusterzSamples: sampled.samples, notSynced: sampled.notSynced };
    log(`${label}: ${JSON.stringify(report[label])}`);
    return { oldTokens, deleted, sampled, offsets, replacedRemoteSecrets };
}

async function expectRotated(generation: number, r: Awaited<ReturnType<typeof rotateTokens>>) {
    // The old token Secrets are gone; the new ones hold what each target's remote secret carries.
    const oldName = (tgt: string) => `Secret ${ISTIO_NS}/istio-reader-token-${tgt}${generation > 2 ? `-g${generation - 1}` : ""} @`;
    expect(r.deleted).toHaveLength(NAMES.length * (NAMES.length - 1));
    for (const src of NAMES) for (const tgt of others(src)) expect(r.deleted.some((d) => d.startsWith(oldName(tgt)))).toBe(true);
    for (const src of NAMES) {
        for (const tgt of others(src)) {
            const live = await kube[src].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/istio-reader-token-${tgt}-g${generation}`);
            const token = await tokenIn(tgt, src);
            expect(token).toBe(b64(live.data.token));
            expect(token).not.toBe(r.oldTokens[`${src}->${tgt}`]);
            // The old token is refused by its API server; the new one reads.
            const refused = await eventually(`old reader token of ${src} for ${tgt} refused`, async () => {
                const e = await asReader(src, r.oldTokens[`${src}->${tgt}`]).list("/api/v1/services").then(() => undefined, (err) => err);
                return e instanceof KubeError && e.status === 401 ? e : undefined;
            }, 2 * MIN, 1000);
            expect(refused.status).toBe(401);
            expect((await asReader(src, token).list("/api/v1/services")).length).toBeGreaterThan(0);
        }
    }
    for (const n of NAMES) {
        await checks.expectClusterzSynced(istiod[n], n, others(n), log);
        // istiod never used a revoked token: no 401 from a remote API server in its log since the rotation began.
        expect([n, logSince(n, r.offsets[n]).match(/.*Unauthorized.*/g) ?? []]).toEqual([n, []]);
    }
}

describe("reader-token rotation", () => {
    test("provider default (a changed Secret is replaced): new token first, remote secret updated, old token deleted last and refused; clusterz synced after", async () => {
        const r = await rotateTokens(2, false);
        await expectRotated(2, r);
        // What the default costs: the remote secret is deleted and created (its name is fixed), so istiod drops the
        // remote cluster for a moment. Recorded, not hidden: the runbook sets PULUMI_K8S_ENABLE_SECRET_MUTABLE.
        expect(r.replacedRemoteSecrets.length).toBe(2);
    }, 20 * MIN);

    test("with PULUMI_K8S_ENABLE_SECRET_MUTABLE (updated in place): the same, and every clusterz sample stays synced", async () => {
        const r = await rotateTokens(3, true);
        await expectRotated(3, r);
        expect(r.replacedRemoteSecrets).toEqual([]);
        expect(r.sampled.samples).toBeGreaterThan(10);
        // The remote cluster never leaves istiod's registry (with the default it does, for about a second: see the
        // report); istiod re-syncs the updated cluster (a "syncing" sample or two is what the update costs).
        expect(r.sampled.notSynced.filter((x) => !/: syncing$/.test(x))).toEqual([]);
    }, 20 * MIN);
});

// ---- root rotation ------------------------------------------------------------------------------------------

const STAGES: { stage: string; ca: Record<string, unknown>; multiroot: boolean; restart: boolean }[] = [
    { stage: "trust-both", ca: { rootRotation: "trust-both" }, multiroot: true, restart: true },
    { stage: "reissue", ca: { rootRotation: "reissue" }, multiroot: true, restart: false },
    { stage: "drop-old", ca: { rootRotation: "drop-old" }, multiroot: true, restart: false },
    { stage: "done", ca: { rootGeneration: 2 }, multiroot: false, restart: true },
];

describe("root rotation, one pulumi up per stage, on the real istiod", () => {
    const cacerts: Record<string, Record<string, Record<string, string>>> = {};
    const outputs: Record<string, Record<string, unknown>> = {};
    let dir: string;
    const g: { g1?: string; g2?: string } = {};

    /** Workload certificates the real istiod of each cluster issued in each stage (leaf file, chain file). */
    const issued: Record<string, Record<string, { cert: string; chain: string }>> = {};
    async function issueFromIstiods(stage: string) {
        issued[stage] = {};
        for (const n of NAMES) {
            const w = await workloadCertFromIstiod({ kube: kube[n], ip: istiod[n].clusterIP!, rootsPem: await published(n), namespace: ISTIO_NS, serviceAccount: "istio-reader-service-account", dir, label: `istiod-${stage}-${n}` });
            issued[stage][n] = { cert: file(`istiod-${stage}-${n}-leaf.pem`, w.chain[0]), chain: file(`istiod-${stage}-${n}-chain.pem`, w.chain.slice(1).join("")) };
            // Signed by the intermediate this cluster's cacerts holds in this stage.
            expect(new crypto.X509Certificate(w.chain[0]).checkIssued(new crypto.X509Certificate(cacerts[stage][n]["ca-cert.pem"]))).toBe(true);
            expect(new crypto.X509Certificate(w.chain[0]).subjectAltName).toBe(`URI:spiffe://cluster.local/ns/${ISTIO_NS}/sa/istio-reader-service-account`);
        }
    }

    beforeAll(async () => {
        if (!first) throw new Error("the first apply did not succeed");
        dir = fs.mkdtempSync(path.join(root, "leaves-"));
        g.g1 = fingerprints(String(first.outputs.rootCertPem))[0];
        cacerts.none = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await readCacerts(n)] as const)));
        await issueFromIstiods("none");
    });

    async function readCacerts(n: string): Promise<Record<string, string>> {
        const s = await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`);
        return Object.fromEntries(Object.entries<string>(s.data).map(([k, v]) => [k, b64(v)]));
    }
    const file = (name: string, content: string) => {
        const f = path.join(dir, name);
        fs.writeFileSync(f, content);
        return f;
    };
    const leaves = new Map<string, { cert: string; chain: string }>();
    function leaf(stage: string, cluster: string) {
        const key = `${stage}-${cluster}`;
        if (leaves.has(key)) return leaves.get(key)!;
        const f = cacerts[stage][cluster];
        const ext = file(`${key}.ext`, "subjectAltName=URI:spiffe://cluster.local/ns/sample/sa/curl\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
        execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path.join(dir, `${key}.key`), "-out", path.join(dir, `${key}.csr`), "-subj", "/O=cluster.local"], { stdio: "pipe" });
        execFileSync("openssl", ["x509", "-req", "-in", path.join(dir, `${key}.csr`), "-CA", file(`${key}-ca.pem`, f["ca-cert.pem"]), "-CAkey", file(`${key}-ca.key`, f["ca-key.pem"]), "-CAcreateserial", "-days", "1", "-out", path.join(dir, `${key}.pem`), "-extfile", ext], { stdio: "pipe" });
        const l = { cert: path.join(dir, `${key}.pem`), chain: file(`${key}-chain.pem`, f["cert-chain.pem"]) };
        leaves.set(key, l);
        return l;
    }
    /** What istiod of `n` publishes as the mesh's trust (istio-ca-root-cert), as a CA file. */
    const published = async (n: string): Promise<string> => (await kube[n].get(`/api/v1/namespaces/${ISTIO_NS}/configmaps/istio-ca-root-cert`)).data["root-cert.pem"];
    const verifies = (l: { cert: string; chain: string }, trustFile: string) => {
        try {
            execFileSync("openssl", ["verify", "-CAfile", trustFile, "-untrusted", l.chain, l.cert], { stdio: "pipe" });
            return true;
        } catch {
            return false;
        }
    };

    test.each(STAGES.map((s) => [s.stage, s] as const))("stage %s", async (_label, s) => {
        const starts = Object.fromEntries(NAMES.map((n) => [n, istiod[n].starts.length]));
        const offsets = Object.fromEntries(NAMES.map((n) => [n, logSize(n)]));
        const refusalsBeforeRestart: Record<string, number> = {};
        const sampler = sampleClusterz();
        const run = await timed(`root stage ${s.stage}`, () => runLive(config({ ca: s.ca }), newMocks(`root-${s.stage}`, true)));
        outputs[s.stage] = run.outputs;
        if (s.stage === "trust-both") g.g2 = fingerprints(String(run.outputs.rootCertPem))[1];
        const expectedRoots = { "trust-both": [g.g1, g.g2], reissue: [g.g1, g.g2], "drop-old": [g.g2], done: [g.g2] }[s.stage]!;
        expect(fingerprints(String(run.outputs.rootCertPem))).toEqual(expectedRoots);
        cacerts[s.stage] = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await readCacerts(n)] as const)));

        for (const n of NAMES) {
            // The chart rendered the env into the Deployment, and the real istiod restarted only when it changed.
            const dep = await kube[n].get(`/apis/apps/v1/namespaces/${ISTIO_NS}/deployments/istiod`);
            const env = Object.fromEntries((dep.spec.template.spec.containers.find((c: any) => c.name === "discovery").env ?? []).map((e: any) => [e.name, e.value]));
            expect([n, env.ISTIO_MULTIROOT_MESH]).toEqual([n, s.multiroot ? "true" : undefined]);
            // The real istiod publishes exactly the roots of the stage.
            await eventually(`${n} publishes the roots of ${s.stage}`, async () => JSON.stringify(fingerprints(await published(n))) === JSON.stringify(expectedRoots), 3 * MIN, 1000);
            await checks.expectClusterzSynced(istiod[n], n, others(n), log);
            expect([n, istiod[n].starts.length - starts[n]]).toEqual([n, s.restart ? 1 : 0]);
            const text = logSince(n, offsets[n]);
            // `cacerts` is updated before the istiod release (istiod depends on it), so in trust-both the istiod still
            // running without ISTIO_MULTIROOT_MESH sees the bundle first and refuses it (keeps the old root) until the
            // rollout replaces it. Counted, and the process started with the stage's env must accept everything.
            const refusal = /.*(Multi root is disabled|Updating new ROOT-CA not supported|Failed to update new Plug-in CA certs|Failed generating plugged-in istiod key cert).*/g;
            const segments = text.split(/\n==== [^\n]* start /);
            const current = segments[segments.length - 1];
            refusalsBeforeRestart[n] = segments.length > 1 ? (segments.slice(0, -1).join("\n").match(refusal)?.length ?? 0) : 0;
            expect([n, current.match(refusal) ?? []]).toEqual([n, []]);
            if (!s.restart) expect(text).toMatch(/Istiod has detected the newly added intermediate CA and updated its key and certs accordingly/);
            if (s.stage === "drop-old") expect(text).toMatch(/Updating new ROOT-CA/);
        }
        const sampled = await sampler.stop();
        report[`root-${s.stage}`] = { clusterzSamples: sampled.samples, notSynced: sampled.notSynced, refusalsBeforeRestart, istiodRestarts: Object.fromEntries(NAMES.map((n) => [n, istiod[n].starts.length - starts[n]])) };
        // Stages that only change cacerts are hot reloads: no sample may miss a remote cluster. Stages that change
        // istiod's env restart the bed's single istiod process (a Deployment rollout keeps the old pod serving until the
        // new one is Ready, which the bed cannot show): its samples are reported, and clusterz is synced after.
        if (!s.restart) expect(sampled.notSynced).toEqual([]);

        // Workload certificates from the old and the new intermediates against what each real istiod publishes:
        // issued by the real istiods (CreateCertificate on 15012) before the rotation and in this stage, and signed
        // with openssl from the intermediates of both.
        const trust = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, file(`published-${s.stage}-${n}.pem`, await published(n))] as const)));
        await issueFromIstiods(s.stage);
        for (const from of NAMES) {
            for (const to of NAMES) {
                expect({ stage: s.stage, from, to, istiodIssuedBefore: verifies(issued.none[from], trust[to]), istiodIssuedNow: verifies(issued[s.stage][from], trust[to]) }).toEqual({
                    stage: s.stage,
                    from,
                    to,
                    istiodIssuedBefore: s.stage === "trust-both" || s.stage === "reissue",
                    istiodIssuedNow: true,
                });
            }
        }
        const issuedBy = { old: "none", current: s.stage };
        for (const from of NAMES) {
            for (const to of NAMES) {
                const oldOk = verifies(leaf(issuedBy.old, from), trust[to]);
                const newOk = verifies(leaf(issuedBy.current, from), trust[to]);
                expect({ stage: s.stage, from, to, oldIntermediate: oldOk, currentIntermediate: newOk }).toEqual({
                    stage: s.stage,
                    from,
                    to,
                    oldIntermediate: s.stage === "trust-both" || s.stage === "reissue",
                    currentIntermediate: true,
                });
            }
        }
    }, 20 * MIN);

    test("validity output after the rotation: the new root and the re-issued intermediates", () => {
        expect(Object.keys((outputs.done.caValidityDays as any).roots)).toEqual(["g2"]);
        for (const n of NAMES) expect(new crypto.X509Certificate(cacerts.done[n]["ca-cert.pem"]).checkIssued(new crypto.X509Certificate(cacerts.done[n]["root-cert.pem"]))).toBe(true);
    });
});
