/**
 * The canary upgrade runbook (docs/upgrades.md), walked on the bed from Istio 1.30.5 to 1.31.1, with live mocks
 * (lib/liveMocks.ts: every resource really applied, real Helm, the tag charts rendered by real `helm template`) and
 * one real pilot-discovery per revision and cluster (lib/istiod.ts with `revision`: two real istiods side by side in a
 * cluster while both revisions are installed).
 *
 * Topology as liveMesh.e2e.ts: cluster1 and cluster2 on network1, cluster3 on network2 (east-west gateways).
 * Steps, each one run of the program: (-1) an existing stack without revisions (unrevisioned istiod 1.30.5), (0) the
 * same version as revision 1-30-5 through the revisions settings (the old `istiod` release deleted last), (1) add 1-31-1
 * everywhere, (2) the canary tag moves to 1-31-1 in cluster1, (3a) the stable and default tags move in cluster1,
 * (3b) then everywhere, (4) 1-30-5 is removed; then the same config once more.
 * At every step: every revision's istiod lists the other clusters `synced` on /debug/clusterz; each tag's webhook
 * points at the right revision's Service and carries a caBundle; a pod in a namespace labelled `istio.io/rev=<tag>`
 * is injected by that tag's revision (proxy image tag and discovery address `istiod-<rev>`); the Helm releases are
 * the expected ones.
 *
 * Live mocks do not delete what a run no longer declares (the engine would, after the run's creates and updates):
 * `deleteWhatIsGone` does it here, last, as the engine orders deletes, with `helm uninstall` and `kubectl delete`.
 * "Changes nothing" for the final run means, under live mocks: every resource's inputs equal the previous run's
 * (nothing the engine would update or replace), no Helm release is upgraded, and nothing is left to delete. The
 * engine's own diff is not run here (see liveMesh.e2e.ts: no Pulumi engine can be built on this machine).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { Bed, BedCluster, cacheDir, chartsDir, pilotDiscovery, startBed } from "./lib/bed";
import { ISTIO_NS, IstiodOperator } from "./lib/istiod";
import { Kube, eventually, sleep } from "./lib/kube";
import { LiveMocks, LiveRun, LiveState, ReleaseDone, run, runLive } from "./lib/liveMocks";
import * as checks from "./lib/meshChecks";
import { helmReleases, makeLog, makeTimed, othersOf } from "./lib/meshChecks";

const NAMES = ["cluster1", "cluster2", "cluster3"];
const NETWORK: Record<string, string> = { cluster1: "network1", cluster2: "network1", cluster3: "network2" };
const MIN = 60_000;
const OLD = { name: "1-30-5", version: "1.30.5" };
const NEW = { name: "1-31-1", version: "1.31.1" };
const REVS = [OLD, NEW];
const CANARY_NS = "e2e-canary";

const log = makeLog("canary-e2e");
const timings: Record<string, number> = {};
const timed = makeTimed(timings, log);

let root: string;
let bed: Bed | undefined;
let clusters: BedCluster[] = [];
const kube: Record<string, Kube> = {};
/** One real istiod per cluster and revision. */
const istiod: Record<string, Record<string, IstiodOperator>> = {};
const state = new LiveState();
const runs: Record<string, LiveRun> = {};
const deleted: Record<string, string[]> = {};

const bin = (tool: string) => path.join(cacheDir(), "bin", tool);

/** `kubernetes:helm:template` (helm.v3.Chart) with real Helm, as the provider renders a chart: no cluster access. */
async function helmTemplate(inputs: Record<string, any>): Promise<Record<string, any>> {
    const o = JSON.parse(inputs.jsonOpts);
    const chart: string = o.path ?? o.chart;
    const valuesFile = path.join(root, `template-values-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
    fs.writeFileSync(valuesFile, JSON.stringify(o.values ?? {}));
    const args = ["template", o.release_name, chart, "--namespace", o.namespace ?? "default", "-f", valuesFile];
    if (!o.path && o.version) args.push("--version", o.version);
    if (o.fetch_opts?.repo) args.push("--repo", o.fetch_opts.repo);
    const r = await run(bin("helm"), args, `helm template ${o.release_name}`);
    const result = parseAllDocuments(r.stdout)
        .map((d) => d.toJSON())
        .filter((x) => x && typeof x === "object");
    return { result };
}

const clusterOfServer = (server: string) => clusters.find((c) => c.apiServerUrl.replace(/\/$/, "") === server.replace(/\/$/, ""))?.name;

/** What the real pod's readiness probe would gate Helm's --wait on: the revision's real istiod serving its webhooks. */
async function afterRelease(r: ReleaseDone): Promise<void> {
    const m = /^istiod(?:-(.+))?$/.exec(r.name);
    if (!m || r.namespace !== ISTIO_NS) return;
    const n = clusterOfServer(r.server)!;
    // "" is the unrevisioned istiod of a stack without revisions.
    const rev = m[1] ?? "";
    const version = String(r.status.version);
    await eventually(
        `real istiod ${rev} (${version}) of ${n} ready with its injector's caBundle`,
        async () => {
            const op = istiod[n][rev];
            if (op.running?.version !== version) return false;
            await op.debug("/ready");
            const mwc = await kube[n].get(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector${rev ? `-${rev}` : ""}`);
            // Its validator, and base's istiod-default-validator when this is the default revision (validation fails closed).
            const vwcs = await kube[n].list("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", `labelSelector=${encodeURIComponent(`istio.io/rev=${rev || "default"}`)}`);
            return [mwc, ...vwcs].every((c) => (c.webhooks ?? []).every((w: any) => w.clientConfig?.caBundle));
        },
        4 * MIN,
        500,
    );
}

function config(settings: Record<string, unknown>, clusterTags: Record<string, Record<string, string>> = {}): Record<string, unknown> {
    const p = (k: string) => `istio-multicluster:${k}`;
    const base = checks.clustersConfig({
        istioVersion: OLD.version,
        chartSource: chartsDir(OLD.version),
        clusters: clusters.map((c) => ({ name: c.name, network: NETWORK[c.name], kubeconfigPath: c.kubeconfigPath })),
    });
    base[p("clusters")] = (base[p("clusters")] as any[]).map((c) => ({ ...c, ...(clusterTags[c.name] ? { revisionTags: clusterTags[c.name] } : {}) }));
    const out: Record<string, unknown> = {
        ...base,
        [p("samples")]: { helloworld: { enabled: true }, bookinfo: { enabled: false }, verification: { enabled: false } },
        [p("workloadRevisionTag")]: "prod-stable",
    };
    for (const [k, v] of Object.entries(settings)) out[p(k)] = v;
    return out;
}

/** The stack as it is before revisions: one unrevisioned istiod of istioVersion (what existing stacks run). */
function unrevisionedConfig(): Record<string, unknown> {
    const cfg = config({});
    delete cfg["istio-multicluster:workloadRevisionTag"];
    return cfg;
}

/** Each revision's charts: the bed has one directory per version. */
const revisions = (...rs: typeof REVS) => rs.map((r) => ({ ...r, chartSource: chartsDir(r.version) }));

interface Step {
    config: () => Record<string, unknown>;
    /** Revisions installed in every cluster. */
    revisions: string[];
    /** Tag → revision, per cluster. */
    tags: Record<string, Record<string, string>>;
}

const same = (t: Record<string, string>) => Object.fromEntries(NAMES.map((n) => [n, t]));
const OLD_TAGS = { default: OLD.name, "prod-stable": OLD.name, "prod-canary": OLD.name };
const CANARY_TAGS = { ...OLD_TAGS, "prod-canary": NEW.name };
const NEW_TAGS = { default: NEW.name, "prod-stable": NEW.name, "prod-canary": NEW.name };

const STEPS: Record<string, Step> = {
    "0 one revision (1.30.5)": {
        config: () => config({ revisions: revisions(OLD), revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } }),
        revisions: [OLD.name],
        tags: same(OLD_TAGS),
    },
    "1 add 1.31.1 everywhere": {
        config: () => config({ revisions: revisions(OLD, NEW), defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } }),
        revisions: [OLD.name, NEW.name],
        tags: same(OLD_TAGS),
    },
    "2 canary tag to 1.31.1 in cluster1": {
        config: () =>
            config({ revisions: revisions(OLD, NEW), defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } }, { cluster1: { "prod-canary": NEW.name } }),
        revisions: [OLD.name, NEW.name],
        tags: { cluster1: CANARY_TAGS, cluster2: OLD_TAGS, cluster3: OLD_TAGS },
    },
    "3a stable and default to 1.31.1 in cluster1, canary everywhere": {
        config: () =>
            config(
                { revisions: revisions(OLD, NEW), defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": NEW.name } },
                { cluster1: { "prod-stable": NEW.name, default: NEW.name } },
            ),
        revisions: [OLD.name, NEW.name],
        tags: { cluster1: NEW_TAGS, cluster2: CANARY_TAGS, cluster3: CANARY_TAGS },
    },
    "3b stable and default to 1.31.1 everywhere": {
        config: () => config({ revisions: revisions(OLD, NEW), defaultRevision: NEW.name, revisionTags: { "prod-stable": NEW.name, "prod-canary": NEW.name } }),
        revisions: [OLD.name, NEW.name],
        tags: same(NEW_TAGS),
    },
    "4 remove 1.30.5": {
        config: () => config({ revisions: revisions(NEW), revisionTags: { "prod-stable": NEW.name, "prod-canary": NEW.name } }),
        revisions: [NEW.name],
        tags: same(NEW_TAGS),
    },
};

function newMocks(label: string): LiveMocks {
    return new LiveMocks({
        workDir: path.join(root, "live", label),
        binDir: path.join(cacheDir(), "bin"),
        state,
        afterRelease,
        log,
        calls: { "kubernetes:helm:template": helmTemplate },
    });
}

/**
 * What the engine does last in an `up`: delete what the program no longer declares. LiveState keys are
 * `<server>|<type>|<name>`; names are unique in the stack.
 */
async function deleteWhatIsGone(mocks: LiveMocks): Promise<string[]> {
    const declared = new Set(mocks.registered.map((r) => `${r.type}|${r.name}`));
    const gone: string[] = [];
    const kubeconfigOf = (server: string) => clusters.find((c) => c.name === clusterOfServer(server))!.kubeconfigPath;
    for (const [key, obj] of [...state.inputs.entries()]) {
        const [server, type, name] = [key.slice(0, key.indexOf("|")), ...key.slice(key.indexOf("|") + 1).split("|")];
        if (declared.has(`${type}|${name}`)) continue;
        const stub = JSON.stringify({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace } });
        await run(bin("kubectl"), [`--kubeconfig=${kubeconfigOf(server)}`, "delete", "-f", "-", "--ignore-not-found", "--wait=true"], `delete ${obj.kind} ${obj.metadata.name}`, stub);
        state.inputs.delete(key);
        gone.push(`${obj.kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ""}${obj.metadata.name} @ ${clusterOfServer(server)}`);
    }
    for (const [key, rel] of [...state.releases.entries()]) {
        const [server, type, name] = [key.slice(0, key.indexOf("|")), ...key.slice(key.indexOf("|") + 1).split("|")];
        if (declared.has(`${type}|${name}`)) continue;
        const inputs = JSON.parse(rel.inputs);
        await run(bin("helm"), ["uninstall", inputs.name, "--namespace", inputs.namespace, `--kubeconfig=${kubeconfigOf(server)}`, "--wait"], `helm uninstall ${inputs.name}`);
        state.releases.delete(key);
        gone.push(`helm release ${inputs.namespace}/${inputs.name} @ ${clusterOfServer(server)}`);
    }
    for (const g of gone) log(`deleted (no longer declared): ${g}`);
    return gone;
}

async function up(step: string, cfg: Record<string, unknown>): Promise<LiveRun> {
    const r = await timed(step, () => runLive(cfg, newMocks(step.replace(/[^A-Za-z0-9.-]+/g, "_"))));
    expect(r.mocks.failures).toEqual([]);
    deleted[step] = await deleteWhatIsGone(r.mocks);
    runs[step] = r;
    return r;
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

const versionOf = (rev: string) => REVS.find((r) => r.name === rev)!.version;

const TAG_NAMESPACES: Record<string, string> = { "prod-stable": "sample", "prod-canary": CANARY_NS, default: "e2e-default" };

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

/** Everything a runbook step must show on the bed. */
async function checkStep(name: string, step: Step): Promise<void> {
    for (const n of NAMES) {
        // The releases: istio-base, one istiod per revision (the unrevisioned `istiod` of before is gone), the east-west gateway.
        const releases = await helmReleases(kube[n]);
        expect({ cluster: n, unrevisioned: releases.istiod }).toEqual({ cluster: n, unrevisioned: undefined });
        const want = Object.fromEntries(step.revisions.map((r) => [`istiod-${r}`, versionOf(r)]));
        const got = Object.fromEntries(Object.entries(releases).filter(([k, v]) => k.startsWith("istiod-") && v.status === "deployed").map(([k, v]) => [k, v.chartVersion]));
        expect({ cluster: n, istiods: got }).toEqual({ cluster: n, istiods: want });
        expect({ cluster: n, base: releases["istio-base"]?.chartVersion }).toEqual({ cluster: n, base: step.revisions.map(versionOf).sort().pop() });
        // Every revision's istiod sees every other cluster.
        for (const rev of step.revisions) {
            const synced = await eventually(`${n} ${rev}: clusterz lists ${othersOf(NAMES, n).join(", ")} synced`, () => checks.clusterzSynced(istiod[n][rev], othersOf(NAMES, n)), 3 * MIN, 1000);
            log(`${name} ${n} istiod-${rev}: clusterz ${JSON.stringify(synced.map((c: any) => `${c.id}=${c.syncStatus}`))}`);
        }
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
        // The east-west gateway's pods (made by the Deployment controller, injected by the real webhook) follow the
        // workload tag: its chart is that revision's, so a tag move rolls them out with the new proxy.
        const stable = step.tags[n]["prod-stable"];
        const gatewayPods = await eventually(
            `${n}: east-west gateway pods injected by ${stable}`,
            async () => {
                const pods = (await kube[n].list(`/api/v1/namespaces/${ISTIO_NS}/pods`, `labelSelector=${encodeURIComponent("istio=eastwestgateway")}`)).filter((p) => !p.metadata.deletionTimestamp);
                const seen = pods.map((p) => {
                    const proxy = p.spec.containers.find((c: any) => c.name === "istio-proxy");
                    return { rev: p.metadata.labels["istio.io/rev"], image: proxy?.image, discovery: JSON.parse(proxy?.env?.find((e: any) => e.name === "PROXY_CONFIG")?.value ?? "{}").discoveryAddress };
                });
                return seen.length > 0 && seen.every((x) => x.rev === "prod-stable" && x.image?.endsWith(`:${versionOf(stable)}`) && x.discovery === `istiod-${stable}.istio-system.svc:15012`) && seen;
            },
            3 * MIN,
            1000,
        );
        log(`${name} ${n}: east-west gateway pods ${JSON.stringify(gatewayPods)}`);
        // Unlabelled gateways and `istio-injection=enabled` namespaces go to the default tag's revision.
        const def = await injectedBy(kube[n], "e2e-default");
        expect({ cluster: n, ...def }).toEqual({ cluster: n, proxyImage: expect.stringContaining(`:${versionOf(step.tags[n].default)}`), discoveryAddress: `istiod-${step.tags[n].default}.istio-system.svc:15012` });
    }
    log(`${name}: checked on the bed`);
}

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(process.env.E2E_WORK_DIR ?? os.tmpdir(), "istio-mc-canary-"));
    log(`work dir ${root}; bed cache ${cacheDir()}`);
    checks.requireBedFiles([OLD.version, NEW.version], [bin("helm"), bin("kubectl")]);
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
}, 30 * MIN);

afterAll(async () => {
    await checks.stopIstiodsAndBed(Object.fromEntries(Object.entries(istiod).flatMap(([n, byRev]) => Object.entries(byRev).map(([r, o]) => [`${n}/${r}`, o]))), bed, log);
    const summary = {
        seconds: timings,
        deleted,
        istiodStarts: Object.fromEntries(Object.entries(istiod).map(([n, byRev]) => [n, Object.fromEntries(Object.entries(byRev).map(([r, o]) => [r, o.starts.map((s) => s.version)]))])),
        operations: Object.fromEntries(Object.entries(runs).map(([s, r]) => [s, { helm: r.mocks.operations.filter((o) => o.op === "helm" && o.changed !== false).map((o) => o.object), changed: r.mocks.operations.filter((o) => o.changed).map((o) => o.object) }])),
    };
    if (root) fs.writeFileSync(path.join(root, "canary-summary.json"), JSON.stringify(summary, null, 2));
    log(`summary: ${JSON.stringify(summary)}; logs under ${root}`);
}, 5 * MIN);

describe("canary upgrade 1.30.5 → 1.31.1, cluster by cluster, on the 3-cluster bed", () => {
    test("-1 an existing stack without revisions (unrevisioned istiod 1.30.5)", async () => {
        await up("-1 unrevisioned", unrevisionedConfig());
        // The test's own namespaces, created once: one by the canary tag, one for the default revision.
        for (const n of NAMES) {
            await kube[n].create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: CANARY_NS, labels: { "istio.io/rev": "prod-canary" } } });
            await kube[n].create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "e2e-default", labels: { "istio-injection": "enabled" } } });
        }
        for (const n of NAMES) {
            expect({ cluster: n, istiod: (await helmReleases(kube[n])).istiod?.chartVersion }).toEqual({ cluster: n, istiod: OLD.version });
            await eventually(`${n}: unrevisioned istiod synced`, () => checks.clusterzSynced(istiod[n][""], othersOf(NAMES, n)), 3 * MIN, 1000);
            // The unrevisioned injector leaves discoveryAddress at its default (istiod.istio-system.svc:15012) out of PROXY_CONFIG.
            const injected = await injectedBy(kube[n], "sample");
            log(`-1 ${n}: pod in sample (istio-injection=enabled) injected with ${injected.proxyImage}, discovery "${injected.discoveryAddress}"`);
            expect({ cluster: n, ...injected }).toEqual({ cluster: n, proxyImage: expect.stringMatching(/\/proxyv2:1\.30\.5$/), discoveryAddress: expect.not.stringContaining("istiod-") });
        }
    }, 30 * MIN);

    const stepList = Object.entries(STEPS);
    stepList.forEach(([name, step], i) => {
        test(name, async () => {
            const probe = probeTagMoves(stepList[i - 1]?.[1], step);
            await up(name, step.config());
            // Until the new revision's webhook has settled everywhere, then the probes stop.
            await sleep(probe.probes.length > 0 ? 3000 : 0);
            const moves = await probe.finish();
            for (const m of moves) log(`${name}: tag move probe ${m.where}: ${m.answers.map((a, j) => `${a}×${m.counts[j]}`).join(" → ")}`);
            const from = Object.fromEntries(probe.probes.map((p) => [p.where, p.from]));
            const to = Object.fromEntries(probe.probes.map((p) => [p.where, p.to]));
            // Every pod injected; the old revision, then the new one, and no going back.
            expect(moves.map((m) => ({ where: m.where, answers: m.answers.filter((a) => a !== from[m.where]) }))).toEqual(moves.map((m) => ({ where: m.where, answers: [to[m.where]] })));
            if (name.startsWith("0")) {
                // Moving to revisions: the revisioned control plane and the tags first, then the old release goes (last).
                expect(deleted[name].sort()).toEqual(NAMES.map((n) => `helm release istio-system/istiod @ ${n}`).sort());
            }
            await checkStep(name, step);
        }, 30 * MIN);
    });

    test("step 4 deleted exactly the old revision's istiod releases; the reader tokens still read every cluster through the new revision's role", async () => {
        expect(deleted["4 remove 1.30.5"].sort()).toEqual(NAMES.map((n) => `helm release istio-system/istiod-${OLD.name} @ ${n}`).sort());
        for (const [step, gone] of Object.entries(deleted)) if (!/^[04]/.test(step)) expect({ step, gone }).toEqual({ step, gone: [] });
        const roles = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
        for (const c of clusters) {
            const readerBindings = (await kube[c.name].list(roles)).map((b) => b.metadata.name).filter((x: string) => x.startsWith("istio-reader-clusterrole-"));
            expect({ cluster: c.name, readerBindings }).toEqual({ cluster: c.name, readerBindings: [`istio-reader-clusterrole-${NEW.name}-istio-system`] });
            // The token every other cluster's remote secret holds, used as istiod uses it: reads allowed, writes refused.
            await checks.expectReaderToken(kube, { name: c.name, apiServerUrl: c.apiServerUrl, kubeconfig: c.kubeconfig }, othersOf(NAMES, c.name), { readVerbs: ["get", "list", "watch"] });
        }
    });

    test("the same config once more changes nothing: same inputs for every resource, no release upgraded, nothing to delete", async () => {
        const again = await up("5 same config again", STEPS["4 remove 1.30.5"].config());
        const changed = again.mocks.operations.filter((o) => o.changed === true || (o.op === "helm" && o.changed === undefined) || (o.op === "apply" && o.changed === undefined));
        expect(changed.map((o) => o.object)).toEqual([]);
        expect(deleted["5 same config again"]).toEqual([]);
        await checkStep("5 same config again", STEPS["4 remove 1.30.5"]);
    }, 30 * MIN);
});
