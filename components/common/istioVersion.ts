/** Istio versions: which are supported, where their charts and images come from, and what each chart version reads. */
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";

export interface Version {
    major: number;
    minor: number;
    patch: number;
}

/**
 * Supported Istio minors and the Kubernetes minors each supports (late 2026). 1.29 and older are end of life.
 *
 * Kubernetes ranges: 1.31 supports 1.32–1.36 (istio.io supported-releases page). 1.30 also supports 1.32–1.36: istio.io's table lists it with those versions
 * (mirrored at cloud.ibm.com/docs/containers?topic=containers-supported-cluster-addon-versions: "Istio 1.30 -
 * >=1.32.0 <1.37.0"), and istioctl's precheck in istio/istio 1.30.3 and release-1.31
 * (istioctl/pkg/install/k8sversion/version.go) has `MinK8SVersion = 32`.
 */
export const SUPPORTED_ISTIO_MINORS: readonly { minor: string; kubernetes: { oldest: number; newest: number } }[] = [
    { minor: "1.30", kubernetes: { oldest: 32, newest: 36 } },
    { minor: "1.31", kubernetes: { oldest: 32, newest: 36 } },
];
export const OLDEST_SUPPORTED_ISTIO_MINOR = { major: 1, minor: 30 } as const;
export const DEFAULT_ISTIO_VERSION = "1.31.1";

/** Istio's Helm repository (every release; `helm repo add istio https://blob.istio.io/istio-release/charts`). */
export const ISTIO_HELM_REPO = "https://blob.istio.io/istio-release/charts";
/** Istio's OCI registry for the same charts. */
export const ISTIO_OCI_CHARTS = "oci://ghcr.io/istio/release/charts";
/** The old Helm repository: removed in December 2026, and it never had 1.31. */
export const LEGACY_ISTIO_HELM_REPO = "https://istio-release.storage.googleapis.com/charts";
/** Where every Istio release's images are (the 1.30 charts default to registry.istio.io/release, being retired). */
export const DEFAULT_ISTIO_IMAGE_HUB = "docker.io/istio";
export const DEFAULT_ISTIO_CHART_SOURCE = ISTIO_HELM_REPO;

export const ISTIO_CHART_NAMES = ["base", "istiod", "gateway"] as const;
export type IstioChartName = (typeof ISTIO_CHART_NAMES)[number];

export function parseVersion(text: string): Version | undefined {
    const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(text);
    return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}

export function compareVersions(a: Version, b: Version): number {
    return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function requireVersion(text: string): Version {
    const v = parseVersion(text);
    if (!v) throw new Error(`Istio version must be "x.y.z", got "${text}"`);
    return v;
}

/** The supported minor an exact version belongs to, or undefined (too old, or newer than this program knows). */
export function supportedMinor(version: string): (typeof SUPPORTED_ISTIO_MINORS)[number] | undefined {
    const v = parseVersion(version);
    return v ? SUPPORTED_ISTIO_MINORS.find((m) => m.minor === `${v.major}.${v.minor}`) : undefined;
}

export const supportedMinorsText = () => SUPPORTED_ISTIO_MINORS.map((m) => `${m.minor}.x`).join(" and ");

// ---- chart sources ------------------------------------------------------------------------------------

/** Where the charts come from: a Helm repository, an OCI registry, or a directory holding base/, istiod/, gateway/. */
export type ChartSource = { kind: "repo"; url: string } | { kind: "oci"; url: string } | { kind: "local"; dir: string };

/**
 * Reads an `istioChartSource` value. A local directory is made absolute against `cwd` (the project directory,
 * where Pulumi runs the program), so the chart path in state does not depend on where the provider runs.
 * Returns a problem text for anything else.
 */
export function parseChartSource(text: string, cwd: string = process.cwd()): ChartSource | string {
    const trimmed = text.trim();
    if (trimmed === "") return "must not be empty";
    if (/^https:\/\//i.test(trimmed)) {
        try {
            const u = new URL(trimmed);
            if (!u.hostname) return `"${text}" is not a URL`;
        } catch {
            return `"${text}" is not a URL`;
        }
        return { kind: "repo", url: trimmed.replace(/\/+$/, "") };
    }
    if (/^oci:\/\//i.test(trimmed)) {
        if (!/^oci:\/\/[^/\s]+(\/[^/\s]+)*\/?$/.test(trimmed)) return `"${text}" is not an OCI reference such as ${ISTIO_OCI_CHARTS}`;
        return { kind: "oci", url: trimmed.replace(/\/+$/, "") };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
        return `"${text}" uses an unsupported scheme; use an https:// Helm repository, an oci:// registry or a local directory`;
    }
    return { kind: "local", dir: path.resolve(cwd, trimmed) };
}

/** The text form of a parsed source (what the validated setting holds). */
export function chartSourceText(source: ChartSource): string {
    return source.kind === "local" ? source.dir : source.url;
}

/**
 * How `helm.v3.Release` (pulumi-kubernetes 4.x, provider/pkg/provider/helm_release.go) takes each source:
 * - repository: `chart` + `repositoryOpts.repo` (looked up in the repository's index.yaml);
 * - OCI: the full `oci://…/<chart>` reference as `chart` and no repositoryOpts (with a repo the provider would
 *   look for an index.yaml, which registries do not serve);
 * - local: the chart directory's absolute path as `chart`, no repositoryOpts. Helm ignores `version` for a local
 *   chart, and the provider's Check replaces it with the Chart.yaml version; the program checks beforehand
 *   that Chart.yaml says `istioVersion`, so passing it keeps the pin visible (and the policy pack happy).
 */
export function istioChart(chart: IstioChartName, version: string, source: string = DEFAULT_ISTIO_CHART_SOURCE) {
    const parsed = parseChartSource(source);
    if (typeof parsed === "string") throw new Error(`Istio chart source: ${parsed}`);
    switch (parsed.kind) {
        case "repo":
            return { chart, version, repositoryOpts: { repo: parsed.url } };
        case "oci":
            return { chart: `${parsed.url}/${chart}`, version };
        case "local":
            return { chart: path.join(parsed.dir, chart), version };
    }
}

/** Values every Istio chart we install gets, so images come from `hub` and stay pinned to the Istio version. */
export function imageValues(imageHub: string, istioVersion: string): { global: { hub: string; tag: string } } {
    // Published charts already default `tag` to their version, but a chart directory built from Istio's sources
    // says `tag: latest` (and `hub: registry.istio.io/testing`): the tag is set explicitly so images stay pinned.
    return { global: { hub: imageHub, tag: istioVersion } };
}

/**
 * What is wrong with a local chart directory for this Istio version: each of base/, istiod/ and gateway/ must
 * hold a Chart.yaml whose `version` is the Istio version (Helm installs whatever the directory holds).
 */
export function localChartProblems(dir: string, istioVersion: string, readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8")): string[] {
    const problems: string[] = [];
    for (const chart of ISTIO_CHART_NAMES) {
        const file = path.join(dir, chart, "Chart.yaml");
        let text: string;
        try {
            text = readFile(file);
        } catch {
            problems.push(`${file} is missing: the directory must hold Istio's ${ISTIO_CHART_NAMES.join(", ")} charts as sub-directories`);
            continue;
        }
        let version: unknown;
        try {
            version = (parseYaml(text) as { version?: unknown } | null)?.version;
        } catch (e) {
            problems.push(`${file} is not YAML (${(e as Error).message.split("\n")[0]})`);
            continue;
        }
        if (String(version) !== istioVersion) {
            problems.push(`${file} has version ${JSON.stringify(version ?? null)}, not the Istio version ${istioVersion}`);
        }
    }
    return problems;
}
