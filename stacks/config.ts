/**
 * The stack's topology, read from Pulumi config and validated before any resource is declared.
 *
 * Everything under the `istio-multicluster:` namespace is checked: unknown keys (with a "did you mean"),
 * wrong types, malformed names and versions, and topology rules such as unique cluster names. All problems
 * are reported at once, each naming the setting and what is allowed.
 */
import { isIP } from "net";
import { z } from "zod";
import { GATEWAY_SERVICE_TYPES } from "../components/core/cluster";
import { samplesSettingsSchema } from "./samples";
import { ConfigError, PROJECT, formatPath, fromText } from "./validation";
import { clusterRevisionFields, revisionSettings } from "./revisions";
import { caRotationFields, providedRotationFields, readerTokensSettings, rotationProblems } from "./rotation";
import { clusterIstioValuesFields, istioValuesSettings } from "./istioValues";

export { ConfigError, PROJECT, closest, formatPath, fromText, validate } from "./validation";
import { DEFAULT_CA_VALIDITY_HOURS, checkProvidedCA } from "../components/core/meshCA";
import {
    DEFAULT_ISTIO_CHART_SOURCE,
    DEFAULT_ISTIO_IMAGE_HUB,
    DEFAULT_ISTIO_VERSION,
    ISTIO_CHART_NAMES,
    ISTIO_OCI_CHARTS,
    chartSourceText,
    localChartProblems,
    parseChartSource,
    parseVersion,
    supportedMinor,
    supportedMinorsText,
} from "../components/common/istioVersion";

export const PLATFORMS = ["existing", "azure", "aws"] as const;
export type Platform = (typeof PLATFORMS)[number];

/** RFC 1123 label: what Kubernetes accepts for namespace names, label values we key on, and Secret keys we derive. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A Kubernetes label value (the network name lands in `topology.istio.io/network`). */
export const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export const dns1123Label = (what: string) =>
    z
        .string({ error: `must be a string (${what})` })
        .max(63, { error: "must be at most 63 characters (a DNS-1123 label)" })
        .regex(DNS1123_LABEL, {
            error: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
        });

export const networkName = z
    .string({ error: "must be a string" })
    .max(63, { error: "must be at most 63 characters (a Kubernetes label value)" })
    .regex(LABEL_VALUE, {
        error: "must be a Kubernetes label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    });

export const istioVersion = z
    .string({ error: `must be a string such as "${DEFAULT_ISTIO_VERSION}"` })
    .superRefine((v, ctx) => {
        if (parseVersion(v) === undefined) {
            ctx.addIssue({ code: "custom", message: `must be an exact version "x.y.z", such as "${DEFAULT_ISTIO_VERSION}"; got "${v}"` });
        } else if (!supportedMinor(v)) {
            ctx.addIssue({ code: "custom", message: `Istio ${v} is not supported: use ${supportedMinorsText()} (older minors are end of life), such as "${DEFAULT_ISTIO_VERSION}"` });
        }
    });

/**
 * `istioChartSource`: an https:// Helm repository, an oci:// registry, or a local directory (relative to the
 * project directory, where Pulumi runs the program). Local directories come out absolute.
 */
export const istioChartSource = z
    .string({ error: `must be a string: an https:// Helm repository, an oci:// registry or a directory` })
    .transform((v, ctx) => {
        const parsed = parseChartSource(v);
        if (typeof parsed === "string") {
            ctx.addIssue({
                code: "custom",
                message: `${parsed}. Allowed: an https:// Helm repository (default ${DEFAULT_ISTIO_CHART_SOURCE}), an oci:// registry (${ISTIO_OCI_CHARTS}) or a directory holding ${ISTIO_CHART_NAMES.join("/, ")}/`,
            });
            return z.NEVER;
        }
        return chartSourceText(parsed);
    });

/** `istioImageHub` (and the samples' `imageHub`): a registry and repository, without image name or tag. */
export const IMAGE_HUB = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$/;
export const imageHub = (example: string) =>
    z
        .string({ error: `must be an image registry path such as ${example}` })
        .regex(IMAGE_HUB, { error: `must be an image registry and repository such as ${example} (lowercase, no image name or tag)` });

/** A DNS name: labels of letters, digits and '-', separated by dots. */
export const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;

export const IP_FAMILIES = ["ipv4", "ipv6"] as const;
/** `clusters[].ipFamily`: the pods' IP family (on AWS fixed when the cluster is created). */
export const ipFamilySetting = (note = "") => z.enum(IP_FAMILIES, { error: `must be ipv4 or ipv6 (the pod and Service IP family${note})` }).default("ipv4");

/** Settings every cluster entry has, whatever the platform. */
export const commonClusterFields = {
    /** The Istio cluster ID (`global.multiCluster.clusterName`) and the suffix of its remote secret. */
    name: dns1123Label("cluster name"),
    /** The Istio network (`global.network`); clusters whose pods cannot reach each other directly differ. */
    network: networkName,
    /** This cluster's overrides of `revisionTags` (stacks/revisions.ts). */
    ...clusterRevisionFields,
    /** Helm values for this cluster's Istio charts, over the mesh-wide `istioValues` (stacks/istioValues.ts). */
    ...clusterIstioValuesFields,
};

/** Cluster entries for the existing-cluster mode: a kubeconfig per cluster. */
export const existingClusterSchema = z
    .strictObject({
        ...commonClusterFields,
        /** Path to a kubeconfig file. */
        kubeconfigPath: z.string().min(1).optional(),
        /** Kubeconfig contents (set it with `pulumi config set --secret --path`). */
        kubeconfig: z.string().min(1).optional(),
        /** The context to use in that kubeconfig (only it is kept); default its current context. */
        kubeconfigContext: z.string().min(1).optional(),
        /** API server URL the other clusters' istiod use; default the kubeconfig's server. */
        apiServerUrl: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).optional(),
        /** Pod IP family: an IPv6 cluster's istiod lets sidecars reach IPv4 destinations. */
        ipFamily: ipFamilySetting(),
        /** Annotations for this cluster's east-west gateway Service (your load balancer's, e.g. internal). */
        eastWestServiceAnnotations: z.record(z.string(), z.string({ error: "must be a string" })).optional(),
        /** How the other networks reach the east-west gateway: a load balancer, or a port on every node. */
        eastWestServiceType: z.enum(GATEWAY_SERVICE_TYPES as [string, ...string[]], { error: "must be LoadBalancer or NodePort" }).default("LoadBalancer"),
        /** With NodePort: the address (IP or DNS name) the other networks reach this cluster's nodes at. */
        eastWestGatewayAddress: z
            .string({ error: "must be an IP address or a DNS name" })
            .refine((v) => isIP(v) !== 0 || DNS_NAME.test(v), { error: "must be an IP address or a DNS name (no scheme or port), such as 172.18.0.3" })
            .optional(),
        /** With NodePort: the node port of the gateway's 15443. */
        eastWestNodePort: fromText(
            z.number({ error: "must be a whole number from 30000 to 32767" }).int({ error: "must be a whole number from 30000 to 32767" }).min(30000, { error: "must be a node port from 30000 to 32767" }).max(32767, { error: "must be a node port from 30000 to 32767" }),
        ).optional(),
    })
    .refine((c) => (c.kubeconfig === undefined) !== (c.kubeconfigPath === undefined), {
        error: "set exactly one of kubeconfigPath and kubeconfig",
    })
    .superRefine((c, ctx) => {
        if (c.eastWestServiceType === "NodePort" && c.eastWestGatewayAddress === undefined) {
            ctx.addIssue({ code: "custom", path: ["eastWestGatewayAddress"], message: "is required with eastWestServiceType NodePort: the address (a node's IP or a DNS name) the other networks reach this cluster's nodes at" });
        }
        if (c.eastWestServiceType !== "NodePort") {
            for (const key of ["eastWestGatewayAddress", "eastWestNodePort"] as const) {
                if (c[key] !== undefined) ctx.addIssue({ code: "custom", path: [key], message: "is only used with eastWestServiceType NodePort" });
            }
        }
    });

/** Names given more than once, among entries that have a string `name` (others are reported elsewhere). */
export function duplicateNames(items: unknown[]): string[] {
    const seen = new Set<string>();
    const dupes = new Set<string>();
    for (const item of items) {
        const name = (item as { name?: unknown } | null)?.name;
        if (typeof name === "string") (seen.has(name) ? dupes : seen).add(name);
    }
    return [...dupes];
}

/** A list of clusters with unique names; `entry` is the platform's cluster schema. */
export const clusterList = <T extends z.ZodType<{ name: string; network: string }>>(entry: T) =>
    z
        .array(entry, { error: "must be a list of clusters" })
        .min(1, { error: "must list at least one cluster" })
        .superRefine(
            (clusters, ctx) => {
                for (const name of duplicateNames(clusters)) {
                    ctx.addIssue({ code: "custom", message: `cluster name "${name}" is used more than once; names must be unique (they are Istio cluster IDs)` });
                }
            },
            // Also when some entries have other problems, so that every problem is reported in one run.
            { when: (payload) => Array.isArray(payload.value) },
        );

const pemText = (what: string) => z.string({ error: `must be ${what} as PEM text` }).min(1, { error: `must be ${what} as PEM text` });

/** `istio-multicluster:ca`: the generated CA's options, or a CA you bring (set its keys with --secret). */
export const caSettings = z
    .strictObject({
        validityHours: fromText(
            z
                .number({ error: "must be a whole number of hours" })
                .int({ error: "must be a whole number of hours" })
                .min(24, { error: "must be at least 24 hours" }),
        ).default(DEFAULT_CA_VALIDITY_HOURS),
        allowRootRotation: fromText(z.boolean({ error: "must be true or false" })).default(false),
        provided: z
            .strictObject({
                rootCertPem: pemText("the root certificate"),
                clusters: z.record(
                    z.string(),
                    z.strictObject({
                        certPem: pemText("the intermediate CA certificate"),
                        keyPem: pemText("the intermediate CA private key"),
                        certChainPem: pemText("the chain from the intermediate to the root").optional(),
                    }),
                ),
                ...providedRotationFields,
            })
            .optional(),
        ...caRotationFields,
    })
    .prefault({});

export type CASettings = z.output<typeof caSettings>;

/** Settings shared by every platform. */
export const commonSettings = {
    platform: z.enum(PLATFORMS, { error: `must be one of ${PLATFORMS.join(", ")}` }).default("existing"),
    meshId: z
        .string({ error: "is required: the mesh ID shared by every cluster, such as mesh1" })
        .min(1, { error: "must not be empty: the mesh ID shared by every cluster, such as mesh1" }),
    istioVersion: istioVersion.default(DEFAULT_ISTIO_VERSION),
    istioChartSource: istioChartSource.default(DEFAULT_ISTIO_CHART_SOURCE),
    istioImageHub: imageHub(DEFAULT_ISTIO_IMAGE_HUB).default(DEFAULT_ISTIO_IMAGE_HUB),
    eastWestLoadBalancer: z
        .enum(["internal", "public"], { error: "must be internal or public" })
        .default("internal"),
    samples: samplesSettingsSchema,
    ca: caSettings,
    strictMtls: fromText(z.boolean({ error: "must be true or false" })).default(true),
    /** Control-plane revisions and revision tags (stacks/revisions.ts). */
    ...revisionSettings,
    readerTokens: readerTokensSettings,
    /** Helm values laid under the mesh's own in Istio's charts (stacks/istioValues.ts). */
    ...istioValuesSettings,
};

/**
 * Checks that span settings (a provided CA against the cluster list), on the raw config, before any
 * platform declares a resource. Settings that are malformed on their own are left to the platform's schema.
 */
export function checkCrossSettings(raw: Record<string, unknown>): void {
    const ca = caSettings.safeParse(raw.ca);
    const names = Array.isArray(raw.clusters) ? raw.clusters.map((c) => (c as { name?: unknown })?.name).filter((n): n is string => typeof n === "string") : [];
    const problems: string[] = rotationProblems(raw, names, new Date());
    if (ca.success && ca.data.provided) {
        const provided = ca.data.provided;
        for (const name of names.filter((n) => !provided.clusters[n])) {
            problems.push(`${formatPath(["ca", "provided", "clusters", name])}: missing: every cluster needs an intermediate CA (certPem, keyPem)`);
        }
        for (const extra of Object.keys(provided.clusters).filter((c) => !names.includes(c))) {
            problems.push(`${formatPath(["ca", "provided", "clusters", extra])}: no cluster is named "${extra}"; clusters are ${names.join(", ")}`);
        }
        for (const [where, message] of checkProvidedCA(provided.rootCertPem, provided.clusters)) {
            problems.push(`${formatPath(where === "root" ? ["ca", "provided", "rootCertPem"] : ["ca", "provided", "clusters", where])}: ${message}`);
        }
    }
    if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * Kubernetes versions outside what the chosen Istio minor supports (SUPPORTED_ISTIO_MINORS), one problem per
 * cluster, naming both settings. Works on raw settings too, so that these are reported with every other
 * problem: entries whose version is malformed (reported by the schema) are skipped.
 */
export function kubernetesVersionProblems(settings: { istioVersion?: unknown; clusters?: unknown }, example: string): string[] {
    const version = settings.istioVersion === undefined ? DEFAULT_ISTIO_VERSION : settings.istioVersion;
    const istio = typeof version === "string" ? supportedMinor(version) : undefined;
    if (!istio || !Array.isArray(settings.clusters)) return [];
    const { oldest, newest } = istio.kubernetes;
    const problems: string[] = [];
    settings.clusters.forEach((c: unknown, i) => {
        const kubernetesVersion = (c as { kubernetesVersion?: unknown } | null)?.kubernetesVersion;
        const m = typeof kubernetesVersion === "string" ? /^1\.(\d+)(\.\d+)?$/.exec(kubernetesVersion) : null;
        if (!m) return;
        const minor = Number(m[1]);
        if (minor < oldest || minor > newest) {
            problems.push(
                `${formatPath(["clusters", i, "kubernetesVersion"])}: Kubernetes ${kubernetesVersion} is ${minor < oldest ? "too old" : "too new"} for Istio ${version} ` +
                    `(${formatPath(["istioVersion"])}), which supports Kubernetes 1.${oldest} to 1.${newest}; use one of those, such as "${example}"`,
            );
        }
    });
    return problems;
}

/**
 * A local chart directory must hold the three charts at the chosen Istio version; checked on validated settings,
 * before anything is declared. Remote sources are left to Helm (the provider's check names the chart).
 */
export function checkChartSource(settings: { istioChartSource: string; istioVersion: string }, readFile?: (p: string) => string): void {
    const parsed = parseChartSource(settings.istioChartSource);
    if (typeof parsed === "string" || parsed.kind !== "local") return;
    const problems = localChartProblems(parsed.dir, settings.istioVersion, readFile);
    if (problems.length > 0) {
        throw new ConfigError(
            problems.map(
                (p) => `${formatPath(["istioChartSource"])}: ${p}; the charts in a local directory must match ${formatPath(["istioVersion"])} (${settings.istioVersion})`,
            ),
        );
    }
}

/**
 * Turns the raw `istio-multicluster:*` config strings into plain values: structured settings (lists and
 * objects) arrive as JSON text, scalars as strings.
 */
export function rawSettings(allConfig: Record<string, string>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [fullKey, value] of Object.entries(allConfig)) {
        const [namespace, key] = splitKey(fullKey);
        if (namespace !== PROJECT) continue;
        raw[key] = parseValue(value);
    }
    return raw;
}

function splitKey(fullKey: string): [string, string] {
    const i = fullKey.indexOf(":");
    return i < 0 ? ["", fullKey] : [fullKey.slice(0, i), fullKey.slice(i + 1)];
}

function parseValue(value: string): unknown {
    const trimmed = value.trim();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
        try {
            return JSON.parse(trimmed);
        } catch {
            return value;
        }
    }
    // Scalars stay strings: Pulumi stores every top-level value as text, and "1" is a valid mesh ID.
    return value;
}

/** Reads which platform the stack targets, so that the platform's own schema can validate the rest. */
export function readPlatform(raw: Record<string, unknown>): Platform {
    const parsed = commonSettings.platform.safeParse(raw.platform);
    if (!parsed.success) {
        throw new ConfigError([`${formatPath(["platform"])}: must be one of ${PLATFORMS.join(", ")}; got ${JSON.stringify(raw.platform)}`]);
    }
    return parsed.data;
}
