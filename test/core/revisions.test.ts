/**
 * Revisions, revision tags and the canary runbook (docs/upgrades.md) under mocks: the graph of every runbook step on
 * the 3-cluster, 2-network mesh, the values passed to each chart version checked against what the real charts read,
 * and every wrong combination refused before anything is declared.
 */
import { Declared, RunResult, dependsOn, ofType, plain, runProgram, runProgramExpectingError } from "../support/harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";
import { directKubernetesObjects, validateObject } from "../support/schemas";
import { gatewaySchemaTopLevel, unreadPaths } from "../support/chartValues";
import { istiodTemplateStandIn, templateCalls } from "../support/helmTemplate";
import { clusterRevisions, keepOnlyTagObjects, MeshRevisions, newestRevision, revisionProblems, templateChart, workloadRevision } from "../../components/core/revisions";
import { planRevisions } from "../../stacks/revisions";
import { ConfigError } from "../../stacks/validation";
import { policyViolations } from "../support/policyRun";

const OLD = { name: "1-30-5", version: "1.30.5" };
const NEW = { name: "1-31-1", version: "1.31.1" };
const CALLS = { calls: { "kubernetes:helm:template": istiodTemplateStandIn } };
const MWC = "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration";
const RELEASE = "kubernetes:helm.sh/v3:Release";

/** The runbook's stack: 3 clusters (cluster1+2 on network1, cluster3 on network2), samples on, tags as in docs/upgrades.md. */
function stack(settings: Record<string, unknown>, clusterTags: Record<string, Record<string, string>> = {}) {
    const clusters = THREE_CLUSTERS_TWO_NETWORKS.map((c) => ({ ...c, ...(clusterTags[c.name] ? { revisionTags: clusterTags[c.name] } : {}) }));
    // Public east-west load balancers, marked so: existing clusters have no cloud to make them internal, and the policy
    // pack (checked below) flags an unmarked one whatever the revisions.
    return existingStack(clusters, { workloadRevisionTag: "prod-stable", eastWestLoadBalancer: "public", ...settings });
}

/** The runbook, step by step: the settings of each `pulumi up`. */
const STEPS: Record<string, Record<string, unknown>> = {
    "0 one revision": stack({ revisions: [OLD], revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } }),
    "1 add 1.31 everywhere": stack({ revisions: [OLD, NEW], defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } }),
    "2 canary in cluster1": stack(
        { revisions: [OLD, NEW], defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": OLD.name } },
        { cluster1: { "prod-canary": NEW.name } },
    ),
    "3a stable in cluster1": stack(
        { revisions: [OLD, NEW], defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name, "prod-canary": NEW.name } },
        { cluster1: { "prod-stable": NEW.name, default: NEW.name } },
    ),
    "3b stable everywhere": stack({ revisions: [OLD, NEW], defaultRevision: NEW.name, revisionTags: { "prod-stable": NEW.name, "prod-canary": NEW.name } }),
    "4 remove 1.30": stack({ revisions: [NEW], revisionTags: { "prod-stable": NEW.name, "prod-canary": NEW.name } }),
};

/** What each cluster runs, read from the declared graph. */
function summary(run: RunResult) {
    const out: Record<string, any> = {};
    for (const cluster of ["cluster1", "cluster2", "cluster3"]) {
        const mine = (r: Declared) => r.name.startsWith(`mesh-${cluster}-`);
        const releases = ofType(run.resources, RELEASE).filter(mine);
        const istiods = releases.filter((r) => /-istiod-/.test(r.name)).map((r) => `${r.inputs.name}@${r.inputs.version} revision=${r.inputs.values.revision}`);
        const base = releases.find((r) => r.name === `mesh-${cluster}-base`)!;
        const gateway = releases.find((r) => r.name === `mesh-${cluster}-eastwest-release`)!;
        const tags = Object.fromEntries(
            ofType(run.resources, MWC)
                .filter(mine)
                .map((r) => [r.inputs.metadata.name, [...new Set(r.inputs.webhooks.map((w: any) => w.clientConfig.service.name))].join(",")]),
        );
        const ns = run.resources.find((r) => r.type === "kubernetes:core/v1:Namespace" && r.inputs.metadata?.name === "sample" && r.name.includes(cluster));
        out[cluster] = {
            istiods,
            base: `${base.inputs.version} defaultRevision=${base.inputs.values.defaultRevision}`,
            tags,
            eastWestGateway: `${gateway.inputs.version} revision=${gateway.inputs.values.revision}`,
            sampleNamespace: ns?.inputs.metadata.labels,
        };
    }
    return out;
}

const runs: Record<string, RunResult> = {};
beforeAll(async () => {
    for (const [step, config] of Object.entries(STEPS)) runs[step] = await runProgram(config, CALLS);
    // Six program runs: about 15 s alone, past a minute on a shared 2-core machine under load.
}, 180_000);

const tagsAt = (rev: Record<string, string>) =>
    Object.fromEntries(Object.entries(rev).map(([tag, r]) => [`istio-revision-tag-${tag}`, `istiod-${r}`]));

test("each runbook step declares the revisions, tags, base and gateways the runbook says", () => {
    const both = [`istiod-${OLD.name}@1.30.5 revision=1-30-5`, `istiod-${NEW.name}@1.31.1 revision=1-31-1`];
    const c = (istiods: string[], base: string, tags: Record<string, string>, gw: string) => ({
        istiods,
        base,
        tags: tagsAt(tags),
        eastWestGateway: gw,
        sampleNamespace: { "istio.io/rev": "prod-stable" },
    });
    const old = { default: OLD.name, "prod-stable": OLD.name, "prod-canary": OLD.name };
    const all = (x: any) => ({ cluster1: x, cluster2: x, cluster3: x });
    expect(summary(runs["0 one revision"])).toEqual(all(c([both[0]], "1.30.5 defaultRevision=1-30-5", old, "1.30.5 revision=prod-stable")));
    // CRDs first: base moves to the newest revision's chart as soon as it is installed.
    expect(summary(runs["1 add 1.31 everywhere"])).toEqual(all(c(both, "1.31.1 defaultRevision=1-30-5", old, "1.30.5 revision=prod-stable")));
    const canary = { ...old, "prod-canary": NEW.name };
    expect(summary(runs["2 canary in cluster1"])).toEqual({
        cluster1: c(both, "1.31.1 defaultRevision=1-30-5", canary, "1.30.5 revision=prod-stable"),
        cluster2: c(both, "1.31.1 defaultRevision=1-30-5", old, "1.30.5 revision=prod-stable"),
        cluster3: c(both, "1.31.1 defaultRevision=1-30-5", old, "1.30.5 revision=prod-stable"),
    });
    expect(summary(runs["3a stable in cluster1"])).toEqual({
        cluster1: c(both, "1.31.1 defaultRevision=1-31-1", { default: NEW.name, "prod-stable": NEW.name, "prod-canary": NEW.name }, "1.31.1 revision=prod-stable"),
        cluster2: c(both, "1.31.1 defaultRevision=1-30-5", canary, "1.30.5 revision=prod-stable"),
        cluster3: c(both, "1.31.1 defaultRevision=1-30-5", canary, "1.30.5 revision=prod-stable"),
    });
    const moved = { default: NEW.name, "prod-stable": NEW.name, "prod-canary": NEW.name };
    expect(summary(runs["3b stable everywhere"])).toEqual(all(c(both, "1.31.1 defaultRevision=1-31-1", moved, "1.31.1 revision=prod-stable")));
    expect(summary(runs["4 remove 1.30"])).toEqual(all(c([both[1]], "1.31.1 defaultRevision=1-31-1", moved, "1.31.1 revision=prod-stable")));
});

test("a tag's webhook keeps its URN across every step: moving a tag is an in-place update, never a delete and create", () => {
    const urns = (run: RunResult) => ofType(run.resources, MWC).map((r) => r.urn).sort();
    const first = urns(runs["0 one revision"]);
    expect(first).toHaveLength(9); // 3 tags × 3 clusters
    for (const run of Object.values(runs)) expect(urns(run)).toEqual(first);
    // Only the tag's objects are declared from the chart: nothing of the revision itself (its Deployment, webhook, RBAC).
    const fromCharts = runs["2 canary in cluster1"].resources.filter((r) => r.parent.includes("kubernetes:helm.sh/v3:Chart"));
    expect([...new Set(fromCharts.map((r) => r.type))].sort()).toEqual([MWC, "kubernetes:core/v1:Service"]);
    expect(fromCharts.map((r) => r.inputs.metadata.name).filter((n: string) => !/^(istio-revision-tag|istiod-revision-tag)-(default|prod-stable|prod-canary)$/.test(n))).toEqual([]);
});

test("values given to every chart version are what that version reads; objects match their schemas; providers explicit", () => {
    templateCalls.length = 0;
    for (const run of Object.values(runs)) {
        for (const r of ofType(run.resources, RELEASE)) {
            const values = plain(r.inputs.values);
            expect({ release: r.name, unread: unreadPaths(r.inputs.chart, values, r.inputs.version) }).toEqual({ release: r.name, unread: [] });
            if (r.inputs.chart === "gateway") for (const key of Object.keys(values)) expect(gatewaySchemaTopLevel(r.inputs.version)).toContain(key);
        }
        for (const r of directKubernetesObjects(run.resources)) {
            validateObject(r);
            expect({ name: r.name, provider: r.provider }).toEqual({ name: r.name, provider: expect.stringContaining("pulumi:providers:kubernetes") });
        }
    }
});

test("the tag charts are the istiod chart of the revision the tag points at, rendering only that tag", async () => {
    templateCalls.length = 0;
    await runProgram(STEPS["2 canary in cluster1"], CALLS);
    const calls = templateCalls.map((c) => `${c.chart}@${c.version} ${c.values.revision} [${c.values.revisionTags}] ${c.fetch_opts?.repo} ns=${c.namespace}`).sort();
    expect(calls).toContain("istiod@1.31.1 1-31-1 [prod-canary] https://blob.istio.io/istio-release/charts ns=istio-system");
    expect(calls.filter((c) => c.startsWith("istiod@1.31.1"))).toHaveLength(1);
    expect(calls).toHaveLength(9);
    for (const c of templateCalls) expect(unreadPaths("istiod", c.values, c.version!)).toEqual([]);
});

test("the policy pack finds nothing to flag at any runbook step", async () => {
    for (const [step, run] of Object.entries(runs)) expect({ step, violations: await policyViolations(run.resources, { withMessages: true }) }).toEqual({ step, violations: [] });
});

test("remote-secret reader tokens wait for every istiod release of their source (each brings its own reader role)", () => {
    const run = runs["2 canary in cluster1"];
    const token = run.resources.find((r) => r.name === "mesh-cluster1-to-cluster2-reader-token")!;
    for (const rev of [OLD.name, NEW.name]) {
        const istiod = run.resources.find((r) => r.name === `mesh-cluster1-istiod-${rev}`)!;
        expect(dependsOn(run.resources, token, istiod)).toBe(true);
    }
    // Tags wait for the revision they point at.
    const tag = run.resources.find((r) => r.type === "kubernetes:helm.sh/v3:Chart" && r.name === "mesh-cluster1-tag-prod-canary")!;
    expect(dependsOn(run.resources, tag, run.resources.find((r) => r.name === `mesh-cluster1-istiod-${NEW.name}`)!)).toBe(true);
});

test("the cluster's own workloads wait for the webhook of the tag they select, at every runbook step", () => {
    // Found on the real engine (test/e2e/canary.e2e.ts): the east-west gateway rolled out before its tag's webhook
    // existed (or had moved), and its pods kept `image: auto`, uninjected.
    for (const [step, run] of Object.entries(runs)) {
        for (const cluster of ["cluster1", "cluster2", "cluster3"]) {
            const webhook = run.resources.find((r) => r.type === MWC && r.name === `mesh-${cluster}-istio-revision-tag-prod-stable`)!;
            const workloads = run.resources.filter(
                (r) =>
                    (r.type === RELEASE && /gateway/.test(r.inputs.name) && r.name.includes(`-${cluster}-`)) ||
                    (r.type === "kubernetes:apps/v1:Deployment" && r.name.startsWith(`samples-${cluster}-`)),
            );
            expect(workloads.filter((r) => r.type === RELEASE).length).toBeGreaterThan(0);
            expect(workloads.filter((r) => r.type !== RELEASE).length).toBeGreaterThan(0);
            for (const w of workloads) expect({ step, cluster, workload: w.name, waits: dependsOn(run.resources, w, webhook) }).toEqual({ step, cluster, workload: w.name, waits: true });
        }
    }
});

// ---- wrong combinations --------------------------------------------------------------------------------

const mesh = (m: Partial<MeshRevisions>): MeshRevisions => ({ revisions: [OLD, NEW], defaultRevision: OLD.name, ...m });
const messages = (m: MeshRevisions) => revisionProblems(m, ["cluster1", "cluster2"]).map((p) => `${p.path.join(".")}: ${p.message}`);

test("revisionProblems names every wrong combination", () => {
    expect(messages(mesh({}))).toEqual([]);
    expect(messages(mesh({ revisionTags: { prod: "1-29-0" } }))).toEqual([expect.stringMatching(/^revisionTags\.prod: tag "prod" points at revision "1-29-0", which is not in revisions \("1-30-5", "1-31-1"\)/)]);
    expect(messages(mesh({ revisions: [OLD, { name: "again", version: "1.30.5" }] }))).toEqual([
        'revisions.1.version: revisions "1-30-5" and "again" are both Istio 1.30.5; one revision per version',
    ]);
    // Removing a revision a tag still points at, mesh-wide or in one cluster.
    expect(messages(mesh({ revisions: [NEW], defaultRevision: NEW.name, revisionTags: { prod: OLD.name }, clusterRevisionTags: { cluster2: { default: OLD.name } } }))).toEqual([
        expect.stringMatching(/^revisionTags\.prod: .*move the tag first$/),
        expect.stringMatching(/^clusterRevisionTags\.cluster2\.default: tag "default" points at revision "1-30-5".*move the tag first$/),
    ]);
    expect(messages(mesh({ revisionTags: { prod: NEW.name }, clusterRevisionTags: { cluster9: { prod: NEW.name }, cluster1: { canary: NEW.name } } }))).toEqual([
        "clusterRevisionTags.cluster9: no cluster is named \"cluster9\"; clusters are cluster1, cluster2",
        expect.stringMatching(/^clusterRevisionTags\.cluster1\.canary: tag "canary" is not a mesh-wide tag/),
    ]);
    expect(messages(mesh({ revisions: [{ name: "1-29-9", version: "1.29.9" }, { name: "Bad", version: "1.31" }], defaultRevision: "1-29-9" }))).toEqual([
        expect.stringMatching(/^revisions\.0\.version: Istio 1\.29\.9 is not supported: use 1\.30\.x and 1\.31\.x/),
        expect.stringMatching(/^revisions\.1\.name: "Bad" must be a DNS-1123 label/),
        expect.stringMatching(/^revisions\.1\.version: must be an exact version/),
    ]);
    expect(messages(mesh({ revisionTags: { default: NEW.name, "1-31-1": NEW.name }, workloadRevisionTag: "prod" }))).toEqual([
        expect.stringMatching(/^revisionTags\.default: the "default" tag is set with defaultRevision/),
        expect.stringMatching(/^revisionTags\.1-31-1: tag "1-31-1" has the name of a revision/),
        expect.stringMatching(/^workloadRevisionTag: "prod" is not a tag/),
    ]);
    expect(messages(mesh({ revisions: [{ name: "default", version: "1.31.1" }], defaultRevision: "default" }))).toEqual([expect.stringMatching(/^revisions\.0\.name: "default" is Istio's name/)]);
});

test("planRevisions: settings paths in errors, revision settings without revisions, defaultRevision, local chart directories per version", () => {
    const base = { istioChartSource: "https://blob.istio.io/istio-release/charts", clusters: [{ name: "cluster1" }, { name: "cluster2", revisionTags: { prod: "gone" } }] };
    expect(planRevisions({ ...base, clusters: [{ name: "cluster1" }] })).toBeUndefined();
    const error = (s: any, readFile?: (p: string) => string) => {
        try {
            planRevisions(s, readFile);
        } catch (e) {
            expect(e).toBeInstanceOf(ConfigError);
            return (e as ConfigError).problems;
        }
        throw new Error("no error");
    };
    expect(error({ ...base, revisionTags: { prod: "x" } })).toEqual([
        expect.stringMatching(/^istio-multicluster:revisionTags: needs istio-multicluster:revisions/),
        expect.stringMatching(/^istio-multicluster:clusters\[1\]\.revisionTags: needs istio-multicluster:revisions/),
    ]);
    expect(error({ ...base, revisions: [OLD, NEW], revisionTags: { prod: OLD.name } })).toEqual([expect.stringMatching(/^istio-multicluster:defaultRevision: required with more than one revision/)]);
    expect(error({ ...base, revisions: [OLD, NEW], defaultRevision: NEW.name, revisionTags: { prod: OLD.name } })).toEqual([
        expect.stringMatching(/^istio-multicluster:clusters\[1\]\.revisionTags\.prod: tag "prod" points at revision "gone"/),
    ]);
    // A local directory holds one version: each revision's charts are checked against its own version.
    const files: Record<string, string> = {};
    for (const chart of ["base", "istiod", "gateway"]) {
        files[`/charts/1.30.5/${chart}/Chart.yaml`] = "version: 1.30.5\n";
        files[`/charts/1.31.1/${chart}/Chart.yaml`] = "version: 1.31.1\n";
    }
    const read = (p: string) => {
        if (!(p in files)) throw new Error("ENOENT");
        return files[p];
    };
    const local = { istioChartSource: "/charts/1.30.5", clusters: [{ name: "cluster1" }], defaultRevision: OLD.name };
    const ok = planRevisions({ ...local, revisions: [OLD, { ...NEW, chartSource: "/charts/1.31.1" }] }, read)!;
    expect(ok.revisions[1].chartSource).toBe("/charts/1.31.1");
    expect(error({ ...local, revisions: [OLD, NEW] }, read)).toEqual([
        expect.stringMatching(/^istio-multicluster:istioChartSource: \/charts\/1\.30\.5\/base\/Chart\.yaml has version "1\.30\.5", not the Istio version 1\.31\.1; revision "1-31-1" is Istio 1\.31\.1: give it a directory of that version in istio-multicluster:revisions\[1\]\.chartSource/),
        expect.anything(),
        expect.anything(),
    ]);
});

test("bad revision settings fail the program before any resource is declared", async () => {
    const { error, resources } = await runProgramExpectingError(
        stack({ revisions: [NEW], revisionTags: { "prod-stable": OLD.name } }, { cluster3: { "prod-canary": NEW.name } }),
        CALLS,
    );
    expect(error.message).toMatch(/istio-multicluster:revisionTags\.prod-stable: tag "prod-stable" points at revision "1-30-5", which is not in revisions \("1-31-1"\)/);
    expect(error.message).toMatch(/istio-multicluster:clusters\[2\]\.revisionTags\.prod-canary: tag "prod-canary" is not a mesh-wide tag/);
    expect(resources.filter((r) => r.custom)).toEqual([]);
});

test("pure helpers: cluster tags, the workload revision, newest revision, chart sources for helm template, the keep-only-tag transformation", () => {
    expect(clusterRevisions(mesh({ revisionTags: { prod: OLD.name }, clusterRevisionTags: { cluster1: { prod: NEW.name } } }), "cluster1").tags).toEqual({ default: OLD.name, prod: NEW.name });
    expect(clusterRevisions(mesh({ revisionTags: { prod: OLD.name } }), "cluster2")).toEqual({ revisions: [OLD, NEW], tags: { default: OLD.name, prod: OLD.name }, workloadTag: "default" });
    expect(newestRevision([NEW, OLD, { name: "x", version: "1.30.10" }])).toBe(NEW);
    expect(workloadRevision(clusterRevisions(mesh({ revisionTags: { prod: NEW.name }, workloadRevisionTag: "prod" }), "cluster1"))).toBe(NEW);
    expect(workloadRevision(clusterRevisions(mesh({ revisionTags: { prod: NEW.name } }), "cluster1"))).toBe(OLD);
    expect(() => workloadRevision({ revisions: [OLD], tags: { default: "gone" }, workloadTag: "default" })).toThrow('revision tag "default" points at "gone", which is not a revision');
    expect(templateChart("1.31.1")).toEqual({ chart: "istiod", version: "1.31.1", fetchOpts: { repo: "https://blob.istio.io/istio-release/charts" } });
    expect(templateChart("1.31.1", "oci://ghcr.io/istio/release/charts")).toEqual({ chart: "oci://ghcr.io/istio/release/charts/istiod", version: "1.31.1" });
    expect(templateChart("1.31.1", "/c/1.31.1")).toEqual({ path: "/c/1.31.1/istiod" });
    const keep = keepOnlyTagObjects("prod");
    const objs = istiodTemplateStandIn({ jsonOpts: JSON.stringify({ values: { revision: "1-31-1", revisionTags: ["prod"] }, namespace: "istio-system" }) }).result;
    objs.forEach((o) => keep(o));
    expect(objs.filter((o) => o.kind !== "List").map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(["MutatingWebhookConfiguration/istio-revision-tag-prod", "Service/istiod-revision-tag-prod"]);
    expect(objs.filter((o) => o.kind === "List")).toEqual(Array(4).fill({ apiVersion: "v1", kind: "List", items: [] }));
});

test("without revisions the mesh is the single-version one of before: release istiod, no revision value, no tags, istio-injection namespaces", async () => {
    const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS), CALLS);
    const releases = ofType(run.resources, RELEASE).filter((r) => r.name.startsWith("mesh-cluster1-"));
    expect(releases.map((r) => `${r.name} ${r.inputs.name} ${JSON.stringify(Object.keys(r.inputs.values).sort())}`).sort()).toEqual([
        'mesh-cluster1-base istio-base []',
        'mesh-cluster1-eastwest-release istio-eastwestgateway ["global","name","networkGateway","service"]',
        'mesh-cluster1-istiod istiod ["global"]',
    ]);
    expect(run.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Chart" || r.type === MWC)).toEqual([]);
    const ns = run.resources.find((r) => r.type === "kubernetes:core/v1:Namespace" && r.inputs.metadata?.name === "sample")!;
    expect(ns.inputs.metadata.labels).toEqual({ "istio-injection": "enabled" });
    // Moving such a stack to revisions (docs/upgrades.md): base, gateways and namespaces keep their URNs (updated in
    // place; the CRDs are never deleted), only the unrevisioned istiod release goes.
    const urns = (r: RunResult) => new Set(r.resources.filter((x) => x.custom).map((x) => x.urn));
    const before = urns(run);
    const after = urns(runs["0 one revision"]);
    expect([...before].filter((u) => !after.has(u)).map((u) => u.split("::").pop()).sort()).toEqual(["mesh-cluster1-istiod", "mesh-cluster2-istiod", "mesh-cluster3-istiod"]);
});

test("an istioVersion that no revision runs is said in every preview: it would look like an upgrade and change nothing", async () => {
    const { revisionWarnings } = await import("../../stacks/revisions");
    expect(revisionWarnings({ istioVersion: "1.31.1" })).toEqual([]);
    expect(revisionWarnings({ istioVersion: "1.31.1", revisions: [OLD, NEW] })).toEqual([]);
    const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
        await runProgram(stack({ istioVersion: "1.31.2", revisions: [OLD, NEW], defaultRevision: OLD.name, revisionTags: { "prod-stable": OLD.name } }), CALLS);
        expect(warn.mock.calls.flat().join("\n")).toMatch(
            /istio-multicluster:istioVersion: 1\.31\.2 is not installed: with istio-multicluster:revisions each revision runs its own version \(1\.30\.5, 1\.31\.1\)\. To upgrade, add a revision/,
        );
    } finally {
        warn.mockRestore();
    }
});
