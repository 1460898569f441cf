/**
 * Istio control-plane revisions and revision tags (canary upgrades, cluster by cluster).
 *
 * Each revision is Istio's `istiod` chart installed as its own Helm release `istiod-<revision>` with the chart's
 * `revision` value, beside the others. A revision tag is the chart's own tag webhook (templates/revision-tags-mwc.yaml
 * and revision-tags-svc.yaml, rendered from the istiod chart of the revision it points at with
 * `revision=<rev>`, `revisionTags=[<tag>]`, as Istio's Helm canary guide does with `helm template -s`), declared as
 * plain Kubernetes objects whose names do not depend on the revision: moving a tag updates the one webhook in place,
 * so no moment exists without it and no two Helm releases ever own it. The `default` tag also takes
 * `istio-injection=enabled` namespaces and the base chart's `defaultRevision` points config validation at it.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { withFieldManager } from "../common/fieldManager";
import { compareVersions, DEFAULT_ISTIO_CHART_SOURCE, istioChart, parseChartSource, parseVersion, requireVersion, supportedMinor, supportedMinorsText } from "../common/istioVersion";

/** One control-plane revision. */
export interface IstioRevision {
    /** The revision name (`istio.io/rev`, Helm release `istiod-<name>`, Service `istiod-<name>`): a DNS-1123 label, e.g. `1-31-1`. */
    name: string;
    /** Exact Istio version of its charts and images. */
    version: string;
    /** Where this revision's charts come from (default: the mesh's chart source). A local directory must hold this version's charts. */
    chartSource?: string;
}

/** The revisions of a mesh, its tags, and which tag the program's own workloads use. */
export interface MeshRevisions {
    revisions: IstioRevision[];
    /** The revision of the `default` tag: `istio-injection=enabled` namespaces, unlabelled gateways, config validation. */
    defaultRevision: string;
    /** Tag → revision, mesh-wide (`istio.io/rev=<tag>` on a namespace selects it). `default` is set by defaultRevision. */
    revisionTags?: Record<string, string>;
    /** Per-cluster overrides of revisionTags (cluster name → tag → revision), so one cluster can move first; may name `default`. */
    clusterRevisionTags?: Record<string, Record<string, string>>;
    /** The tag the east-west gateways, the sample namespaces and the samples' ingress gateway select. Default `default`. */
    workloadRevisionTag?: string;
}

/** What one cluster runs: every revision, and where each of its tags points there. */
export interface ClusterRevisions {
    revisions: IstioRevision[];
    /** Tag → revision in this cluster, `default` included. */
    tags: Record<string, string>;
    workloadTag: string;
}

export const DEFAULT_TAG = "default";
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A revision name for a version, as Istio's docs write them: 1.31.1 → 1-31-1. */
export const revisionNameFor = (version: string) => version.replace(/\./g, "-");

/** The tags of one cluster: `default`, the mesh-wide tags, then the cluster's overrides. */
export function clusterRevisions(mesh: MeshRevisions, clusterName: string): ClusterRevisions {
    return {
        revisions: mesh.revisions,
        tags: { [DEFAULT_TAG]: mesh.defaultRevision, ...mesh.revisionTags, ...mesh.clusterRevisionTags?.[clusterName] },
        workloadTag: mesh.workloadRevisionTag ?? DEFAULT_TAG,
    };
}

/** The revision a cluster's own workloads (gateways, sample namespaces) run: the one their tag points at there. */
export function workloadRevision(cluster: ClusterRevisions): IstioRevision {
    const name = cluster.tags[cluster.workloadTag];
    const revision = cluster.revisions.find((r) => r.name === name);
    if (!revision) throw new Error(`revision tag "${cluster.workloadTag}" points at "${name}", which is not a revision`);
    return revision;
}

/** The revision whose `base` chart (CRDs) a cluster gets: the newest, as Istio's canary guide upgrades CRDs first. */
export function newestRevision(revisions: IstioRevision[]): IstioRevision {
    return [...revisions].sort((a, b) => compareVersions(requireVersion(b.version), requireVersion(a.version)))[0];
}

/** A problem found in revision settings: where (a path under the settings, as config.ts names them) and what. */
export interface RevisionProblem {
    path: (string | number)[];
    message: string;
}

/**
 * Every wrong combination, before anything is declared: malformed or duplicate names, two revisions of one version,
 * unsupported versions, a default or tag pointing at a revision that is not (or no longer) listed, tags shadowing
 * revision names, overrides naming an unknown cluster or tag, a workload tag that does not exist.
 * `clusterPath` says where a cluster's overrides live in the caller's settings.
 */
export function revisionProblems(
    mesh: MeshRevisions,
    clusterNames: string[],
    clusterPath: (clusterName: string) => (string | number)[] = (c) => ["clusterRevisionTags", c],
): RevisionProblem[] {
    const problems: RevisionProblem[] = [];
    const names = mesh.revisions.map((r) => r.name);
    const listed = () => (names.length > 0 ? names.map((n) => `"${n}"`).join(", ") : "none");
    if (mesh.revisions.length === 0) problems.push({ path: ["revisions"], message: "must list at least one revision ({ name, version })" });
    const versions = new Map<string, string>();
    mesh.revisions.forEach((r, i) => {
        if (!DNS1123_LABEL.test(r.name) || r.name.length > 54) {
            problems.push({ path: ["revisions", i, "name"], message: `"${r.name}" must be a DNS-1123 label of at most 54 characters (it names istiod-<name>), such as "${revisionNameFor("1.31.1")}"` });
        } else if (r.name === DEFAULT_TAG) {
            problems.push({ path: ["revisions", i, "name"], message: `"default" is Istio's name for the unrevisioned control plane; name revisions after their version, such as "${revisionNameFor("1.31.1")}"` });
        }
        if (names.indexOf(r.name) !== i) problems.push({ path: ["revisions", i, "name"], message: `revision "${r.name}" is listed twice; revision names must be unique` });
        if (parseVersion(r.version) === undefined) {
            problems.push({ path: ["revisions", i, "version"], message: `must be an exact version "x.y.z", such as "1.31.1"; got "${r.version}"` });
        } else if (!supportedMinor(r.version)) {
            problems.push({ path: ["revisions", i, "version"], message: `Istio ${r.version} is not supported: use ${supportedMinorsText()}` });
        } else if (versions.has(r.version)) {
            problems.push({ path: ["revisions", i, "version"], message: `revisions "${versions.get(r.version)}" and "${r.name}" are both Istio ${r.version}; one revision per version` });
        } else versions.set(r.version, r.name);
        if (r.chartSource !== undefined && typeof parseChartSource(r.chartSource) === "string") {
            problems.push({ path: ["revisions", i, "chartSource"], message: `${parseChartSource(r.chartSource)}` });
        }
    });
    const pointsAt = (where: (string | number)[], tag: string, revision: string) => {
        if (!names.includes(revision)) {
            problems.push({
                path: where,
                message: `tag "${tag}" points at revision "${revision}", which is not in revisions (${listed()}); a revision can only be removed once no tag points at it: move the tag first`,
            });
        }
    };
    pointsAt(["defaultRevision"], DEFAULT_TAG, mesh.defaultRevision);
    const tags = Object.keys(mesh.revisionTags ?? {});
    for (const [tag, revision] of Object.entries(mesh.revisionTags ?? {})) {
        if (tag === DEFAULT_TAG) {
            problems.push({ path: ["revisionTags", tag], message: `the "default" tag is set with defaultRevision (or per cluster in its revisionTags)` });
            continue;
        }
        if (!DNS1123_LABEL.test(tag) || tag.length > 63) problems.push({ path: ["revisionTags", tag], message: `tag "${tag}" must be a DNS-1123 label (it is a label value and names istio-revision-tag-<tag>)` });
        if (names.includes(tag)) problems.push({ path: ["revisionTags", tag], message: `tag "${tag}" has the name of a revision; Istio refuses tags named like revisions` });
        pointsAt(["revisionTags", tag], tag, revision);
    }
    for (const [cluster, overrides] of Object.entries(mesh.clusterRevisionTags ?? {})) {
        if (!clusterNames.includes(cluster)) {
            problems.push({ path: clusterPath(cluster), message: `no cluster is named "${cluster}"; clusters are ${clusterNames.join(", ")}` });
            continue;
        }
        for (const [tag, revision] of Object.entries(overrides)) {
            if (tag !== DEFAULT_TAG && !tags.includes(tag)) {
                problems.push({
                    path: [...clusterPath(cluster), tag],
                    message: `tag "${tag}" is not a mesh-wide tag; a cluster can only move a tag of revisionTags (${tags.map((t) => `"${t}"`).join(", ") || "none"}) or "default"`,
                });
                continue;
            }
            pointsAt([...clusterPath(cluster), tag], tag, revision);
        }
    }
    const workload = mesh.workloadRevisionTag ?? DEFAULT_TAG;
    if (workload !== DEFAULT_TAG && !tags.includes(workload)) {
        problems.push({ path: ["workloadRevisionTag"], message: `"${workload}" is not a tag: use "default" or one of revisionTags (${tags.map((t) => `"${t}"`).join(", ") || "none"})` });
    }
    return problems;
}

/** Throws one error listing every problem (for the library; the stack reports them as ConfigError). */
export function checkMeshRevisions(mesh: MeshRevisions, clusterNames: string[]): void {
    const problems = revisionProblems(mesh, clusterNames);
    if (problems.length > 0) throw new Error(`Mesh revisions: ${problems.map((p) => `${p.path.join(".")}: ${p.message}`).join("; ")}`);
}

/** The istiod chart's values for a revision: the cluster's values plus `revision`. */
export function revisionValues(values: Record<string, unknown>, revision: string): Record<string, unknown> {
    return { ...values, revision };
}

/** Values that make the istiod chart render one tag's webhook and Service for a revision. */
export function tagChartValues(revision: string, tag: string): Record<string, unknown> {
    return { revision, revisionTags: [tag] };
}

/** What the istiod chart renders for a tag (revision-tags-mwc.yaml and revision-tags-svc.yaml in istio-system). */
export function tagObjectNames(tag: string): { kind: string; name: string }[] {
    return [
        { kind: "MutatingWebhookConfiguration", name: `istio-revision-tag-${tag}` },
        { kind: "Service", name: `istiod-revision-tag-${tag}` },
    ];
}

/**
 * A Chart transformation keeping only the tag's objects: everything else the istiod chart renders belongs to the
 * revision's own release, and becomes an empty List (how helm.v3.Chart omits an object).
 */
export function keepOnlyTagObjects(tag: string): (obj: any) => void {
    const keep = tagObjectNames(tag);
    return (obj: any) => {
        if (keep.some((k) => obj?.kind === k.kind && obj?.metadata?.name === k.name)) return;
        for (const key of Object.keys(obj)) delete obj[key];
        obj.apiVersion = "v1";
        obj.kind = "List";
        obj.items = [];
    };
}

/** How helm.v3.Chart takes a chart source (the same three kinds as `istioChart` for releases). */
export function templateChart(version: string, source: string = DEFAULT_ISTIO_CHART_SOURCE): { chart: string; version: string; fetchOpts?: { repo: string } } | { path: string } {
    const parsed = parseChartSource(source);
    if (typeof parsed === "string") throw new Error(`Istio chart source: ${parsed}`);
    switch (parsed.kind) {
        case "repo":
            return { chart: "istiod", version, fetchOpts: { repo: parsed.url } };
        case "oci":
            return { chart: `${parsed.url}/istiod`, version };
        case "local":
            return { path: path.join(parsed.dir, "istiod") };
    }
}

export interface RevisionedIstioArgs {
    /** Logical name prefix (the IstioPrimary's name). */
    name: string;
    parent: pulumi.Resource;
    provider: k8s.Provider;
    namespace: pulumi.Input<string>;
    cluster: ClusterRevisions;
    /** The mesh's chart source, for revisions that do not name their own. */
    chartSource?: string;
    /** The base chart's values for a version (the mesh's own; `defaultRevision` is added here). */
    baseValues: (version: string) => Record<string, unknown>;
    /** The istiod chart's values for a version (the cluster's multi-primary identity). */
    istiodValues: (version: string) => Record<string, unknown>;
    /** What istiod needs first (cacerts). */
    istiodDependsOn: pulumi.Resource[];
}

export interface RevisionedIstio {
    base: k8s.helm.v3.Release;
    /** istiod release per revision name. */
    istiods: Record<string, k8s.helm.v3.Release>;
    /** The tag charts, by tag. */
    tags: Record<string, k8s.helm.v3.Chart>;
}

/**
 * Declares a cluster's Istio with revisions: `base` from the newest revision (CRDs first) with `defaultRevision`,
 * one `istiod-<rev>` release per revision, and one tag chart per tag. Names are fixed by revision and tag, so adding,
 * moving and removing are each plain creates, in-place updates and deletes.
 */
export function declareRevisionedIstio(a: RevisionedIstioArgs): RevisionedIstio {
    const source = (r: IstioRevision) => r.chartSource ?? a.chartSource ?? DEFAULT_ISTIO_CHART_SOURCE;
    const newest = newestRevision(a.cluster.revisions);
    const base = new k8s.helm.v3.Release(
        `${a.name}-base`,
        {
            name: "istio-base",
            ...istioChart("base", newest.version, source(newest)),
            namespace: a.namespace,
            // Unlabelled Istio config is validated by the default revision (base's istiod-default-validator).
            values: { ...a.baseValues(newest.version), defaultRevision: a.cluster.tags[DEFAULT_TAG] },
        },
        { parent: a.parent, provider: a.provider },
    );
    const istiods: Record<string, k8s.helm.v3.Release> = {};
    for (const r of a.cluster.revisions) {
        istiods[r.name] = new k8s.helm.v3.Release(
            `${a.name}-istiod-${r.name}`,
            {
                name: `istiod-${r.name}`,
                ...istioChart("istiod", r.version, source(r)),
                namespace: a.namespace,
                values: revisionValues(a.istiodValues(r.version), r.name),
            },
            { parent: a.parent, provider: a.provider, dependsOn: [base, ...a.istiodDependsOn] },
        );
    }
    const byName = new Map(a.cluster.revisions.map((r) => [r.name, r]));
    const tags: Record<string, k8s.helm.v3.Chart> = {};
    for (const [tag, revisionName] of Object.entries(a.cluster.tags)) {
        const r = byName.get(revisionName)!;
        tags[tag] = new k8s.helm.v3.Chart(
            `tag-${tag}`,
            {
                ...templateChart(r.version, source(r)),
                namespace: "istio-system",
                values: tagChartValues(r.name, tag),
                resourcePrefix: a.name,
                transformations: [keepOnlyTagObjects(tag), (obj: any) => obj?.metadata && Object.assign(obj, withFieldManager(obj))],
            },
            // The webhook must not point at a revision that is not serving yet.
            { parent: a.parent, provider: a.provider, dependsOn: [istiods[r.name]] },
        );
    }
    return { base, istiods, tags };
}
