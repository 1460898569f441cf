/**
 * The revision settings (`istio-multicluster:revisions`, `defaultRevision`, `revisionTags`, `workloadRevisionTag`
 * and each cluster's `revisionTags`): their schema, and the checks that span them, run on validated settings before
 * anything is declared. Without `revisions` the stack is the single-version mesh of `istioVersion`, unchanged.
 */
import { z } from "zod";
import { ConfigError, formatPath } from "./validation";
import { chartSourceText, DEFAULT_ISTIO_VERSION, localChartProblems, parseChartSource } from "../components/common/istioVersion";
import { DEFAULT_TAG, IstioRevision, MeshRevisions, revisionNameFor, revisionProblems } from "../components/core/revisions";

const tagMap = (what: string) =>
    z.record(z.string(), z.string({ error: "must be a revision name (a string)" }), {
        error: `must map revision tags to revision names, e.g. {"prod-stable": "${revisionNameFor(DEFAULT_ISTIO_VERSION)}"} (${what})`,
    });

/** Top-level settings (spread into commonSettings). Shapes only: how they fit together is checked by planRevisions. */
export const revisionSettings = {
    revisions: z
        .array(
            z.strictObject({
                name: z.string({ error: `must be a revision name such as "${revisionNameFor(DEFAULT_ISTIO_VERSION)}"` }),
                version: z.string({ error: `must be an exact Istio version such as "${DEFAULT_ISTIO_VERSION}"` }),
                chartSource: z.string({ error: "must be an https:// Helm repository, an oci:// registry or a directory" }).optional(),
            }),
            { error: `must be a list of revisions, e.g. [{"name": "${revisionNameFor(DEFAULT_ISTIO_VERSION)}", "version": "${DEFAULT_ISTIO_VERSION}"}]` },
        )
        .optional(),
    defaultRevision: z.string({ error: "must be a revision name (a string)" }).optional(),
    revisionTags: tagMap("mesh-wide").optional(),
    workloadRevisionTag: z.string({ error: "must be a revision tag (a string)" }).optional(),
};

/** Per-cluster setting (spread into every platform's cluster entry): this cluster's overrides of `revisionTags`. */
export const clusterRevisionFields = {
    revisionTags: tagMap("this cluster's overrides of the mesh-wide revisionTags").optional(),
};

export interface RevisionSettings {
    revisions?: { name: string; version: string; chartSource?: string }[];
    defaultRevision?: string;
    revisionTags?: Record<string, string>;
    workloadRevisionTag?: string;
    istioChartSource: string;
    clusters: { name: string; revisionTags?: Record<string, string> }[];
}

/**
 * The mesh's revisions from validated settings, or undefined when `revisions` is not set (the single-version mesh).
 * Throws one ConfigError naming every problem: revision settings without `revisions`, a tag or the default pointing at
 * a missing (or removed) revision, two revisions of one version, unsupported versions, per-cluster overrides of
 * unknown tags, and local chart directories that do not hold a revision's version.
 */
export function planRevisions(settings: RevisionSettings, readFile?: (p: string) => string): MeshRevisions | undefined {
    const clusterIndex = new Map(settings.clusters.map((c, i) => [c.name, i]));
    if (!settings.revisions) {
        const stray = [
            ...(["defaultRevision", "revisionTags", "workloadRevisionTag"] as const).filter((k) => settings[k] !== undefined).map((k) => formatPath([k])),
            ...settings.clusters.flatMap((c, i) => (c.revisionTags !== undefined ? [formatPath(["clusters", i, "revisionTags"])] : [])),
        ];
        if (stray.length > 0) {
            throw new ConfigError(stray.map((s) => `${s}: needs ${formatPath(["revisions"])}, the list of control-plane revisions ({ name, version }); without it the mesh runs one istiod of istioVersion`));
        }
        return undefined;
    }
    const revisions: IstioRevision[] = settings.revisions.map((r) => {
        const parsed = r.chartSource === undefined ? undefined : parseChartSource(r.chartSource);
        return { name: r.name, version: r.version, ...(parsed === undefined ? {} : { chartSource: typeof parsed === "string" ? r.chartSource! : chartSourceText(parsed) }) };
    });
    const problems: string[] = [];
    let defaultRevision = settings.defaultRevision;
    if (defaultRevision === undefined) {
        if (revisions.length === 1) defaultRevision = revisions[0].name;
        else problems.push(`${formatPath(["defaultRevision"])}: required with more than one revision: the revision of the "${DEFAULT_TAG}" tag (${revisions.map((r) => `"${r.name}"`).join(", ")})`);
    }
    const clusterRevisionTags = Object.fromEntries(settings.clusters.filter((c) => c.revisionTags !== undefined).map((c) => [c.name, c.revisionTags!]));
    const mesh: MeshRevisions = {
        revisions,
        defaultRevision: defaultRevision ?? revisions[0]?.name ?? "",
        ...(settings.revisionTags ? { revisionTags: settings.revisionTags } : {}),
        ...(Object.keys(clusterRevisionTags).length > 0 ? { clusterRevisionTags } : {}),
        ...(settings.workloadRevisionTag !== undefined ? { workloadRevisionTag: settings.workloadRevisionTag } : {}),
    };
    if (problems.length === 0) {
        for (const p of revisionProblems(mesh, settings.clusters.map((c) => c.name), (c) => ["clusters", clusterIndex.get(c) ?? c, "revisionTags"])) {
            problems.push(`${formatPath(p.path)}: ${p.message}`);
        }
    }
    // Each revision's charts: a local directory holds one version, so each revision's source is checked on its own.
    revisions.forEach((r, i) => {
        const source = r.chartSource ?? settings.istioChartSource;
        const parsed = parseChartSource(source);
        if (typeof parsed === "string" || parsed.kind !== "local" || problems.some((p) => p.startsWith(formatPath(["revisions", i])))) return;
        for (const p of localChartProblems(parsed.dir, r.version, readFile)) {
            const where = r.chartSource !== undefined ? formatPath(["revisions", i, "chartSource"]) : formatPath(["istioChartSource"]);
            problems.push(`${where}: ${p}; revision "${r.name}" is Istio ${r.version}: give it a directory of that version in ${formatPath(["revisions", i, "chartSource"])}`);
        }
    });
    if (problems.length > 0) throw new ConfigError(problems);
    return mesh;
}

/**
 * With revisions, `istioVersion` installs nothing: each revision has its own version. A changed `istioVersion` that
 * no revision runs would look like an upgrade and do nothing, so it is said (Pulumi.yaml's default reaches the program
 * like a set value, so it cannot be refused).
 */
export function revisionWarnings(settings: { istioVersion: string; revisions?: { version: string }[] }): string[] {
    const versions = settings.revisions?.map((r) => r.version);
    if (!versions || versions.includes(settings.istioVersion)) return [];
    return [
        `${formatPath(["istioVersion"])}: ${settings.istioVersion} is not installed: with ${formatPath(["revisions"])} each revision runs its own version ` +
            `(${versions.join(", ")}). To upgrade, add a revision (docs/upgrades.md); to silence this, set istioVersion to one of them`,
    ];
}
