/**
 * The canary upgrade runbook (docs/upgrades.md) on the REAL Pulumi engine: the CLI 3.274.1 and
 * pulumi-resource-kubernetes 4.25.0 built by the bed, the program run inline (lib/stack.ts), the bed's real API
 * servers, and one real pilot-discovery per cluster and revision (lib/istiod.ts with `revision`: two real istiods
 * side by side in a cluster while both revisions are installed). The whole run is in a network namespace of its
 * own (run.sh).
 *
 * Topology: E2E_TOPOLOGY (lib/topology.ts), by default 3 clusters on 2 networks; every check is written for N
 * clusters on M networks. "The first cluster" is the topology's first; it moves first.
 *
 * Steps, each ONE `up` followed by `preview({ expectNoChanges: true })`, which the engine itself fails on any
 * change: (-1) an existing stack without revisions (unrevisioned istiod of the old version), (0) the same version as
 * a revision through the revisions settings ("Moving an existing stack to revisions": the engine deletes the old
 * `istiod` release last), (1) add the new revision everywhere, (2) the canary tag moves to it in the first cluster,
 * (3a) stable and default move in the first cluster, canary everywhere, (3b) stable and default everywhere,
 * (4) the old revision is removed (the engine deletes its releases). Then a refresh, and the preview after it.
 *
 * At every step: the Helm releases (one istiod per revision, base of the newest); every revision's istiod lists the
 * other clusters `synced` on /debug/clusterz; each tag's webhook calls its revision's Service with a caBundle, and
 * no other tag webhook exists; a pod (dry run) in an `istio.io/rev=<tag>` namespace is injected by the tag's
 * revision (proxy image and discovery address `istiod-<rev>`), in an `istio-injection=enabled` namespace by the
 * default tag's; the east-west gateway pods (multi-network only) follow the workload tag; while an `up` moves a
 * tag, a pod is created (dry run) every 250 ms in each namespace whose tag moves, and must come back injected,
 * first by the old revision and then by the new one. From the engine: what each step created, updated in place
 * (tag moves), replaced (nothing) and deleted (only the old releases, after every create and update).
 *
 * Stand-ins, named where they are used: the tls provider (test/e2e/tls-stand-in/), kwok's pods (no container runs),
 * istiod outside the cluster with the bed's admin kubeconfig. The provider is 4.25.0 while the SDK is 4.34.2.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { revisionNameFor } from "../../components/core/revisions";
import { Bed, BedCluster, bedIstioVersions, buildBed, cacheDir, chartsDir, pilotDiscovery, startBed } from "./lib/bed";
import { StepLog, StepResult, upThenNoChanges } from "./lib/engine";
import { ISTIO_NS, IstiodOperator } from "./lib/istiod";
import { Kube, eventually, sleep } from "./lib/kube";
import * as checks from "./lib/meshChecks";
import { helmReleases, makeLog, makeTimed } from "./lib/meshChecks";
import { PulumiEnv, TLS_STAND_IN, changesOf, meshConfig, openStack, preparePulumi, writeStackConfig } from "./lib/stack";
import { loadTopology } from "./lib/topology";

const topology = loadTopology();
const NAMES = topology.names;
const FIRST = NAMES[0];
const MIN = 60_000;
const [OLD, NEW] = (() => {
    const v = bedIstioVersions();
    const from = process.env.E2E_FROM_VERSION ?? v[0] ?? "1.30.5";
    const to = process.env.E2E_TO_VERSION ?? v[v.length - 1] ?? "1.31.1";
    return [{ name: revisionNameFor(from), version: from }, { name: revisionNameFor(to), version: to }];
})();
const REVS = [OLD, NEW];
const STACK = "canary";
const CANARY_NS = "e2e-canary";
const DEFAULT_NS = "e2e-default";

const log = makeLog("canary-e2e");
const timings: Record<string, number> = {};
const timed = makeTimed(timings, log);

let root: string;
let bed: Bed | undefined;
let clusters: BedCluster[] = [];
let env: PulumiEnv;
let stack: Stack;
const kube: Record<string, Kube> = {};
/** One real istiod per cluster and revision ("" is the unrevisioned istiod of step -1). */
const istiod: Record<string, Record<string, IstiodOperator>> = {};
const steps: Record<string, StepResult> = {};
const report: Record<string, unknown> = {};

const versionOf = (rev: string) => REVS.find((r) => r.name === rev)!.version;
const revisions = (...rs: typeof REVS) => rs.map((r) => ({ ...r, chartSource: chartsDir(r.version) }));

/** The stack config of a step: the topology, samples without the verification Jobs, and the step's settings. */
function config(settings: Record<string, unknown>, clusterTags: Record<string, Record<string, string>> = {}): Record<string, unknown> {
    const p = (k: string) => `istio-multicluster:${k}`;
    const cfg = meshConfig({
        istioVersion: OLD.version,
        chartSource: chartsDir(OLD.version),
        clusters: clusters.map((c) => ({ name: c.name, network: topology.networkOf(c.name), kubeconfigPath: c.kubeconfigPath })),
    });
    cfg[p("clusters")] = (cfg[p("clusters")] as any[]).map((c) => ({ ...c, ...(clusterTags[c.name] ? { revisionTags: clusterTags[c.name] } : {}) }));
    // Under kwok the verification Jobs prove nothing; the runbook's checks are the suite's own.
    cfg[p("samples")] = { helloworld: { enabled: true }, bookinfo: { enabled: false }, verification: { enabled: false } };
    for (const [k, v] of Object.entries(settings)) cfg[p(k)] = v;
    return cfg;
}

interface Step {
    config: () => Record<string, unknown>;
    /** Revisions installed in every cluster. */
    revisions: string[];
    /** Tag → revision, per cluster. */
    tags: Record<string, Record<string, string>>;
}

const everywhere = (t: Record<string, string>) => Object.fromEntries(NAMES.map((n) => [n, t]));
const firstAnd = (first: Record<string, string>, rest: Record<string, string>) => Object.fromEntries(NAMES.map((n) => [n, n === FIRST ? first : rest]));
const OLD_TAGS = { default: OLD.name, "prod-stable": OLD.name, "prod-canary": OLD.name };
const CANARY_TAGS = { ...OLD_TAGS, "prod-canary": NEW.name };
const NEW_TAGS = { default: NEW.name, "prod-stable": NEW.name, "prod-canary": NEW.name };
const WORKLOAD_TAG = { workloadRevisionTag: "prod-stable" };

const STEPS: Record<string, Step> = {
    [`0 one revision (${OLD.version})`]: {
        config: () => config({ ...WORKLOAD_TAG, revisions: revisions(OLD), revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } }),
        revisions: [OLD.name],
        tags: everywhere(OLD_TAGS),
    },
    [`1 add ${NEW.version} everywhere`]: {
        config: () => config({ ...WORKLOAD_TAG, revisions: revisions(OLD, NEW), defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } }),
        revisions: [OLD.name, NEW.name],
        tags: everywhere(OLD_TAGS),
    },
    [`2 canary tag to ${NEW.version} in ${FIRST}`]: {
        config: () =>
            config({ ...WORKLOAD_TAG, revisions: revisions(OLD, NEW), defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } }, { [FIRST]: { "prod-canary": NEW.name } }),
        revisions: [OLD.name, NEW.name],
        tags: firstAnd(CANARY_TAGS, OLD_TAGS),
    },
    [`3a stable and default to ${NEW.version} in ${FIRST}, canary everywhere`]: {
        config: () =>
            config(
                { ...WORKLOAD_TAG, revisions: revisions(OLD, NEW), defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": NEW.name } },
                { [FIRST]: { "prod-stable": NEW.name, default: NEW.name } },
            ),
        revisions: [OLD.name, NEW.name],
        tags: firstAnd(NEW_TAGS, CANARY_TAGS),
    },
    [`3b stable and default to ${NEW.version} everywhere`]: {
        config: () => config({ ...WORKLOAD_TAG, revisions: revisions(OLD, NEW), defaultRevision: NEW.name, revisionTags: { "prod-stable": NEW.name, "prod-canary": NEW.name } }),
        revisions: [OLD.name, NEW.name],
        tags: everywhere(NEW_TAGS),
    },
    [`4 remove ${OLD.version}`]: {
        config: () => config({ ...WORKLOAD_TAG, revisions: revisions(NEW), revisionTags: { "prod-stable": NEW.name, "prod-canary": NEW.name } }),
        revisions: [NEW.name],
        tags: everywhere(NEW_TAGS),
    },
};

/** The stack as it is before revisions: one unrevisioned istiod of istioVersion (what existing stacks run). */
const unrevisionedConfig = () => config({});

/** One runbook step: the step's config, one `up`, then the no-change preview; the engine's operations kept. */
async function runStep(name: string, cfg: Record<string, unknown>): Promise<StepResult> {
    writeStackConfig(env, STACK, cfg);
    const r = await timed(`${name}: up + preview`, () => upThenNoChanges(stack));
    timings[`${name}: up`] = Math.round(r.upSeconds * 10) / 10;
    timings[`${name}: preview (expectNoChanges)`] = Math.round(r.previewSeconds * 10) / 10;
    steps[name] = r;
    report[name] = { changes: changesOf(r.up.summary.resourceChanges), operations: r.log.byOp(), slowest: r.log.durations(8), slowestWithSame: r.log.durations(5, true), previewSlowest: r.previewLog.durations(5, true), outsideOperations: r.quiet };
    log(`${name}: ${JSON.stringify(report[name])}`);
    return r;
}

/** What the engine deleted in a step, as "<type> <name>", sorted. */
const deleted = (l: StepLog) => l.done(["delete"]).map((o) => o.replace(/^delete /, "")).sort();
/** The engine's name of a cluster's istiod release resource (IstioPrimary `mesh-<cluster>`). */
const istiodReleaseName = (n: string, rev?: string) => `mesh-${n}-istiod${rev ? `-${rev}` : ""}`;

/** The engine deleted last: every delete of the step started after its last create or update had finished. */
function expectDeletesLast(l: StepLog): void {
    const lastWrite = l.last((o) => o.phase === "done" && ["create", "update"].includes(o.op));
    const firstDelete = l.first((o) => o.phase === "pre" && o.op === "delete");
    expect(firstDelete).toBeGreaterThan(lastWrite);
}

/** Nothing is replaced in a runbook step: tags move in place, releases upgrade in place. */
function expectNothingReplaced(l: StepLog): void {
    expect(l.done(["replace", "create-replacement", "delete-replaced"])).toEqual([]);
}

/** A pod created (dry run) in a namespace: the API server returns it as the injection webhook mutated it. */
async function injectedBy(k: Kube, namespace: string): Promise<{ proxyImage: string; discoveryAddress: string }> {
    const pod = await k.create(
        `/api/v1/namespaces/${namespace}/pods`,
        { apiVersion: "v1", kind: "Pod", metadata: { name: "e2e-injected", labels: { app: "e2e" } }, spec: { containers: [{ name: "app", image: "docker.io/curlimages/curl:8.16.0" }] } },
        true,
    );
    const proxy = [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])].find((c: any) => c.name === "istio-proxy");
    if (!proxy) return { proxyImage: "", discoveryAddress: "" };
    const proxyConfig = proxy.env?.find((e: any) => e.name === "PROXY_CONFIG")?.value ?? "{}";
    return { proxyImage: proxy.image, discoveryAddress: JSON.parse(proxyConfig).discoveryAddress ?? "" };
}

const TAG_NAMESPACES: Record<string, string> = { "prod-stable": "sample", "prod-canary": CANARY_NS, default: DEFAULT_NS };

/**
 * While an `up` moves tags: a pod is created (dry run) every 250 ms in each namespace whose tag moves, and each must
 * come back injected, first by the old revision and then by the new one, never without a sidecar and never refused.
 */
function probeTagMoves(before: Step | undefined, step: Step) {
    const probes: { where: string; from: string; to: string; seen: string[] }[] = [];
    let stop = false;
    const loops: Promise<void>[] = [];
    for (const n of NAMES) {
        for (const [tag, rev] of Object.entries(step.tags[n])) {
            const from = before?.tags[n][tag];
            if (!from || from === rev) continue;
            const probe = { where: `${n} ${TAG_NAMESPACES[tag]} (${tag})`, from: versionOf(from), to: versionOf(rev), seen: [] as string[] };
            probes.push(probe);
            loops.push(
                (async () => {
                    while (!stop) {
                        try {
                            const r = await injectedBy(kube[n], TAG_NAMESPACES[tag]);
                            probe.seen.push(r.proxyImage ? r.proxyImage.split(":").pop()! : "NOT INJECTED");
                        } catch (e) {
                            probe.seen.push(`REFUSED ${(e as Error).message.slice(0, 120)}`);
                        }
                        await sleep(250);
                    }
                })(),
            );
        }
    }
    return {
        probes,
        async finish() {
            stop = true;
            await Promise.all(loops);
            return probes.map((p) => {
                // Runs of the same answer: e.g. "1.30.5×41 → 1.31.1×12".
                const runs: string[] = [];
                for (const v of p.seen) if (runs[runs.length - 1] !== v) runs.push(v);
                return { where: p.where, answers: runs, counts: runs.map((v) => p.seen.filter((x) => x === v).length) };
            });
        },
    };
}

/** Everything a runbook step must show on the bed, in every cluster at once (each cluster's checks are its own). */
async function checkStep(name: string, step: Step): Promise<void> {
    await Promise.all(NAMES.map((n) => checkCluster(name, step, n)));
    log(`${name}: checked on the bed`);
}

async function checkCluster(name: string, step: Step, n: string): Promise<void> {
    const others = topology.others(n);
    // The releases: istio-base of the newest revision, one istiod per revision (the unrevisioned `istiod` is gone).
    const releases = await helmReleases(kube[n]);
    expect({ cluster: n, unrevisioned: releases.istiod }).toEqual({ cluster: n, unrevisioned: undefined });
    const want = Object.fromEntries(step.revisions.map((r) => [`istiod-${r}`, versionOf(r)]));
    const got = Object.fromEntries(Object.entries(releases).filter(([k, v]) => k.startsWith("istiod-") && v.status === "deployed").map(([k, v]) => [k, v.chartVersion]));
    expect({ cluster: n, istiods: got }).toEqual({ cluster: n, istiods: want });
    expect({ cluster: n, base: releases["istio-base"]?.chartVersion }).toEqual({ cluster: n, base: step.revisions.map(versionOf).sort().pop() });
    // Every revision's istiod sees every other cluster.
    await Promise.all(
        step.revisions.map(async (rev) => {
            const synced = await eventually(`${n} ${rev}: clusterz lists ${others.join(", ")} synced`, () => checks.clusterzSynced(istiod[n][rev], others), 3 * MIN, 1000);
            log(`${name} ${n} istiod-${rev}: clusterz ${JSON.stringify(synced.map((c: any) => `${c.id}=${c.syncStatus}`))}`);
        }),
    );
    // Each tag's webhook points at its revision's Service and has a caBundle (patched by that revision's istiod).
    for (const [tag, rev] of Object.entries(step.tags[n])) {
        await eventually(
            `${n}: istio-revision-tag-${tag} → istiod-${rev} with a caBundle`,
            async () => {
                const mwc = await kube[n].get(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-revision-tag-${tag}`);
                return mwc.webhooks.every((w: any) => w.clientConfig.service.name === `istiod-${rev}` && w.clientConfig.caBundle) && mwc.metadata.labels["istio.io/rev"] === rev;
            },
            2 * MIN,
            500,
        );
    }
    const tagMwcs = (await kube[n].list("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations")).map((m) => m.metadata.name).filter((x) => x.startsWith("istio-revision-tag-")).sort();
    expect({ cluster: n, tagMwcs }).toEqual({ cluster: n, tagMwcs: Object.keys(step.tags[n]).map((t) => `istio-revision-tag-${t}`).sort() });
    // Namespaces by tag: `sample` (istio.io/rev=prod-stable, from the program) and a canary namespace of the test's.
    for (const [namespace, tag] of [["sample", "prod-stable"], [CANARY_NS, "prod-canary"]] as const) {
        const rev = step.tags[n][tag];
        const injected = await injectedBy(kube[n], namespace);
        log(`${name} ${n}: pod in ${namespace} (istio.io/rev=${tag}) injected with ${injected.proxyImage}, discovery ${injected.discoveryAddress}`);
        expect({ cluster: n, namespace, ...injected }).toEqual({
            cluster: n,
            namespace,
            proxyImage: expect.stringMatching(new RegExp(`/proxyv2:${versionOf(rev).replace(/\./g, "\\.")}$`)),
            discoveryAddress: `istiod-${rev}.istio-system.svc:15012`,
        });
    }
    // The east-west gateway's pods (multi-network only; made by the Deployment controller, injected by the real
    // webhook) follow the workload tag: its chart is that revision's, so a tag move rolls them out.
    if (topology.multiNetwork) {
        const stable = step.tags[n]["prod-stable"];
        let lastSeen: unknown;
        const gatewayPods = await eventually(
            `${n}: east-west gateway pods injected by ${stable}`,
            async () => {
                const pods = (await kube[n].list(`/api/v1/namespaces/${ISTIO_NS}/pods`, `labelSelector=${encodeURIComponent("istio=eastwestgateway")}`)).filter((p) => !p.metadata.deletionTimestamp);
                const seen = pods.map((p) => {
                    const proxy = p.spec.containers.find((c: any) => c.name === "istio-proxy");
                    return { pod: p.metadata.name, rev: p.metadata.labels["istio.io/rev"], image: proxy?.image, discovery: JSON.parse(proxy?.env?.find((e: any) => e.name === "PROXY_CONFIG")?.value ?? "{}").discoveryAddress };
                });
                lastSeen = seen;
                return seen.length > 0 && seen.every((x) => x.rev === "prod-stable" && x.image?.endsWith(`:${versionOf(stable)}`) && x.discovery === `istiod-${stable}.istio-system.svc:15012`) && seen;
            },
            3 * MIN,
            1000,
        ).catch((e) => {
            throw new Error(`${(e as Error).message}; last seen: ${JSON.stringify(lastSeen)}`);
        });
        log(`${name} ${n}: east-west gateway pods ${JSON.stringify(gatewayPods)}`);
    }
    // `istio-injection=enabled` namespaces go to the default tag's revision.
    const def = await injectedBy(kube[n], DEFAULT_NS);
    expect({ cluster: n, ...def }).toEqual({ cluster: n, proxyImage: expect.stringContaining(`:${versionOf(step.tags[n].default)}`), discoveryAddress: `istiod-${step.tags[n].default}.istio-system.svc:15012` });
}

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(process.env.E2E_WORK_DIR ?? os.tmpdir(), "istio-mc-canary-"));
    log(`work dir ${root}; topology ${JSON.stringify(topology.clusters)}; ${OLD.version} → ${NEW.version}; bed cache ${cacheDir()}`);
    log(`tls provider: the STAND-IN in ${TLS_STAND_IN} (not the real pulumi-resource-tls)`);
    await timed("bed build/check", async () => buildBed());
    checks.requireBedFiles([OLD.version, NEW.version]);
    bed = await timed("bed start", () => startBed(NAMES, path.join(root, "bed")));
    clusters = checks.bedClusters(bed, NAMES);
    for (const c of clusters) {
        kube[c.name] = Kube.fromKubeconfig(fs.readFileSync(c.kubeconfigPath, "utf8"), c.name);
        istiod[c.name] = {};
        for (const r of [{ name: "" }, ...REVS]) {
            istiod[c.name][r.name] = new IstiodOperator({
                clusterName: c.name,
                kube: kube[c.name],
                kubeconfigPath: c.kubeconfigPath,
                workDir: path.join(root, "istiod", c.name, r.name || "unrevisioned"),
                binaryFor: pilotDiscovery,
                log,
                gatePodReadiness: true,
                ...(r.name ? { revision: r.name } : {}),
            });
            istiod[c.name][r.name].start();
        }
    }
    env = preparePulumi(root);
    stack = await openStack(env, STACK);
}, 120 * MIN);

afterAll(async () => {
    await checks.stopIstiodsAndBed(Object.fromEntries(Object.entries(istiod).flatMap(([n, byRev]) => Object.entries(byRev).map(([r, o]) => [`${n}/${r}`, o]))), bed, log);
    const summary = {
        topology: topology.clusters,
        from: OLD.version,
        to: NEW.version,
        seconds: timings,
        steps: report,
        istiodStarts: Object.fromEntries(Object.entries(istiod).map(([n, byRev]) => [n, Object.fromEntries(Object.entries(byRev).map(([r, o]) => [r, o.starts.map((s) => s.version)]))])),
    };
    if (root) fs.writeFileSync(path.join(root, "canary-summary.json"), JSON.stringify(summary, null, 2));
    if (process.env.E2E_TIMINGS_OUT) fs.writeFileSync(process.env.E2E_TIMINGS_OUT, JSON.stringify(summary, null, 2));
    log(`summary: ${JSON.stringify(summary)}; logs and state under ${root}`);
}, 10 * MIN);

describe(`canary upgrade ${OLD.version} → ${NEW.version}, cluster by cluster, on the real engine (${NAMES.length} clusters, ${topology.networks.length} networks)`, () => {
    test(`-1 an existing stack without revisions (unrevisioned istiod ${OLD.version})`, async () => {
        await runStep("-1 unrevisioned", unrevisionedConfig());
        // The test's own namespaces, created once: one selected by the canary tag, one by `istio-injection=enabled`.
        await Promise.all(NAMES.map(async (n) => {
            await kube[n].create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: CANARY_NS, labels: { "istio.io/rev": "prod-canary" } } });
            await kube[n].create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: DEFAULT_NS, labels: { "istio-injection": "enabled" } } });
            expect({ cluster: n, istiod: (await helmReleases(kube[n])).istiod?.chartVersion }).toEqual({ cluster: n, istiod: OLD.version });
            await eventually(`${n}: unrevisioned istiod synced`, () => checks.clusterzSynced(istiod[n][""], topology.others(n)), 3 * MIN, 1000);
            // The unrevisioned injector leaves discoveryAddress at its default (istiod.istio-system.svc:15012) out of PROXY_CONFIG.
            const injected = await injectedBy(kube[n], "sample");
            log(`-1 ${n}: pod in sample (istio-injection=enabled) injected with ${injected.proxyImage}, discovery "${injected.discoveryAddress}"`);
            expect({ cluster: n, ...injected }).toEqual({ cluster: n, proxyImage: expect.stringMatching(new RegExp(`/proxyv2:${OLD.version.replace(/\./g, "\\.")}$`)), discoveryAddress: expect.not.stringContaining("istiod-") });
        }));
    }, 60 * MIN);

    const stepList = Object.entries(STEPS);
    stepList.forEach(([name, step], i) => {
        test(name, async () => {
            const probe = probeTagMoves(stepList[i - 1]?.[1], step);
            const r = await runStep(name, step.config());
            // Until the new revision's webhook has settled everywhere, then the probes stop.
            await sleep(probe.probes.length > 0 ? 3000 : 0);
            const moves = await probe.finish();
            for (const m of moves) log(`${name}: tag move probe ${m.where}: ${m.answers.map((a, j) => `${a}×${m.counts[j]}`).join(" → ")}`);
            (report[name] as Record<string, unknown>).tagMoveProbes = moves;
            const from = Object.fromEntries(probe.probes.map((p) => [p.where, p.from]));
            const to = Object.fromEntries(probe.probes.map((p) => [p.where, p.to]));
            // Every pod injected; the old revision, then the new one, and no going back.
            expect(moves.map((m) => ({ where: m.where, answers: m.answers.filter((a) => a !== from[m.where]) }))).toEqual(moves.map((m) => ({ where: m.where, answers: [to[m.where]] })));

            // What the engine did. Nothing is ever replaced; a moved tag is an in-place update of its webhook.
            expectNothingReplaced(r.log);
            for (const n of NAMES) {
                for (const [tag, rev] of Object.entries(step.tags[n])) {
                    const before = stepList[i - 1]?.[1].tags[n][tag];
                    const ops = r.log.on(`mesh-${n}-istio-revision-tag-${tag}`);
                    expect({ cluster: n, tag, ops }).toEqual({ cluster: n, tag, ops: before === undefined ? ["create"] : before === rev ? [] : ["update"] });
                }
            }
            if (i === 0) {
                // Moving to revisions: the revisioned control plane and the tags first, then the engine deletes the
                // unrevisioned istiod release, last.
                expect(deleted(r.log)).toEqual(NAMES.map((n) => `kubernetes:helm.sh/v3:Release ${istiodReleaseName(n)}`).sort());
                expectDeletesLast(r.log);
            } else if (name.startsWith("4")) {
                expect(deleted(r.log)).toEqual(NAMES.map((n) => `kubernetes:helm.sh/v3:Release ${istiodReleaseName(n, OLD.name)}`).sort());
                expectDeletesLast(r.log);
            } else {
                expect(r.log.done(["delete"])).toEqual([]);
            }
            if (name.startsWith("1")) {
                expect(r.log.done(["create"]).sort()).toEqual(NAMES.map((n) => `create kubernetes:helm.sh/v3:Release ${istiodReleaseName(n, NEW.name)}`).sort());
            }
            await checkStep(name, step);
        }, 60 * MIN);
    });

    test(`after step 4: only ${NEW.name}'s reader role is bound, and the reader tokens still read every cluster through it`, async () => {
        const roles = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
        await Promise.all(
            clusters.map(async (c) => {
                const readerBindings = (await kube[c.name].list(roles)).map((b) => b.metadata.name).filter((x: string) => x.startsWith("istio-reader-clusterrole-"));
                expect({ cluster: c.name, readerBindings }).toEqual({ cluster: c.name, readerBindings: [`istio-reader-clusterrole-${NEW.name}-istio-system`] });
                // The token every other cluster's remote secret holds, used as istiod uses it: reads allowed, writes refused.
                await checks.expectReaderToken(kube, { name: c.name, apiServerUrl: c.apiServerUrl, kubeconfig: c.kubeconfig }, topology.others(c.name), { readVerbs: ["get", "list", "watch"] });
            }),
        );
    }, 10 * MIN);

    test("refresh after the runbook: the istiods' own writes (caBundle, failurePolicy) are no drift, and the preview after it changes nothing", async () => {
        const l = new StepLog();
        const r = await timed("refresh", () => stack.refresh({ color: "never", onEvent: l.onEvent }));
        expect(r.summary.result).toBe("succeeded");
        // Objects the program only reads (Service.get of the gateways' Services, for their addresses) change under
        // it (status, resourceVersion): refresh re-reads them. Nothing the program manages may have drifted.
        const lastStep = steps[stepList[stepList.length - 1][0]];
        const reads = new Set(lastStep.log.ops.filter((o) => o.phase === "done" && o.op === "read").map((o) => o.name));
        report.refresh = l.done();
        expect(l.done().filter((o) => !reads.has(o.split(" ").pop()!))).toEqual([]);
        await timed("preview after refresh (expectNoChanges)", () => stack.preview({ expectNoChanges: true, color: "never" }));
        await checkStep("after refresh", STEPS[stepList[stepList.length - 1][0]]);
    }, 30 * MIN);
});
