/**
 * The stack's topology, read from Pulumi config and validated before any resource is declared.
 *
 * Everything under the `istio-multicluster:` namespace is checked: unknown keys (with a "did you mean"),
 * wrong types, malformed names and versions, and topology rules such as unique cluster names. All problems
 * are reported at once, each naming the setting and what is allowed.
 */
import { z } from "zod";
import { samplesSettingsSchema } from "./samples";
import { DEFAULT_CA_VALIDITY_HOURS, checkProvidedCA } from "../components/meshCA";
import { compareVersions, parseVersion, OLDEST_SUPPORTED_ISTIO_MINOR, DEFAULT_ISTIO_VERSION } from "../components/istioVersion";

export const PROJECT = "istio-multicluster";

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
    .string({ error: "must be a string such as \"1.30.4\"" })
    .refine((v) => parseVersion(v) !== undefined, { error: 'must be an exact version "x.y.z", such as "1.30.4"' })
    .refine((v) => {
        const parsed = parseVersion(v);
        return parsed === undefined || compareVersions(parsed, { ...OLDEST_SUPPORTED_ISTIO_MINOR, patch: 0 }) >= 0;
    }, { error: `is older than the oldest supported Istio minor ${OLDEST_SUPPORTED_ISTIO_MINOR.major}.${OLDEST_SUPPORTED_ISTIO_MINOR.minor}` });

/** Settings every cluster entry has, whatever the platform. */
export const commonClusterFields = {
    /** The Istio cluster ID (`global.multiCluster.clusterName`) and the suffix of its remote secret. */
    name: dns1123Label("cluster name"),
    /** The Istio network (`global.network`); clusters whose pods cannot reach each other directly differ. */
    network: networkName,
};

/** Cluster entries for the existing-cluster mode: a kubeconfig per cluster. */
export const existingClusterSchema = z
    .strictObject({
        ...commonClusterFields,
        /** Path to a kubeconfig file. */
        kubeconfigPath: z.string().min(1).optional(),
        /** Kubeconfig contents (set it with `pulumi config set --secret --path`). */
        kubeconfig: z.string().min(1).optional(),
        /** The context to use in that kubeconfig; default its current context. */
        context: z.string().min(1).optional(),
        /** API server URL the other clusters' istiod use; default the kubeconfig's server. */
        apiServerUrl: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).optional(),
        /** Annotations for this cluster's east-west gateway Service (load-balancer flavour). */
        gatewayServiceAnnotations: z.record(z.string(), z.string()).optional(),
    })
    .refine((c) => (c.kubeconfig === undefined) !== (c.kubeconfigPath === undefined), {
        error: "set exactly one of kubeconfigPath and kubeconfig",
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
        validityHours: z
            .number({ error: "must be a whole number of hours" })
            .int({ error: "must be a whole number of hours" })
            .min(24, { error: "must be at least 24 hours" })
            .default(DEFAULT_CA_VALIDITY_HOURS),
        allowRootRotation: z.boolean({ error: "must be true or false" }).default(false),
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
            })
            .optional(),
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
    eastWestLoadBalancer: z
        .enum(["internal", "public"], { error: "must be internal or public" })
        .default("internal"),
    samples: samplesSettingsSchema,
    ca: caSettings,
    strictMtls: z.stringbool({ error: "must be true or false" }).default(true),
};

/**
 * Checks that span settings (a provided CA against the cluster list), on the raw config, before any
 * platform declares a resource. Settings that are malformed on their own are left to the platform's schema.
 */
export function checkCrossSettings(raw: Record<string, unknown>): void {
    const ca = caSettings.safeParse(raw.ca);
    const names = Array.isArray(raw.clusters) ? raw.clusters.map((c) => (c as { name?: unknown })?.name).filter((n): n is string => typeof n === "string") : [];
    const problems: string[] = [];
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

export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(`Invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        let prev = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const tmp = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
            prev = tmp;
        }
    }
    return row[b.length];
}

export function closest(word: string, candidates: string[]): string | undefined {
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const c of candidates) {
        const d = editDistance(word, c);
        if (d < bestDistance) {
            best = c;
            bestDistance = d;
        }
    }
    return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Keys an object schema allows, found by walking to `path` through the schema. */
function allowedKeysAt(schema: z.ZodType, path: PropertyKey[]): string[] {
    let current: z.ZodType | undefined = schema;
    const unwrap = (s: z.ZodType): z.ZodType => {
        const def = (s as any)._zod.def;
        if (def.type === "optional" || def.type === "default" || def.type === "nullable" || def.type === "prefault") {
            return unwrap(def.innerType);
        }
        if (def.type === "pipe") return unwrap(def.in);
        return s;
    };
    for (const step of path) {
        if (!current) return [];
        current = unwrap(current);
        const def = (current as any)._zod.def;
        if (def.type === "object") current = def.shape[step as string];
        else if (def.type === "array") current = def.element;
        else if (def.type === "record") current = def.valueType;
        else return [];
    }
    if (!current) return [];
    const def = (unwrap(current) as any)._zod.def;
    return def.type === "object" ? Object.keys(def.shape) : [];
}

export function formatPath(path: PropertyKey[]): string {
    let out = PROJECT;
    path.forEach((step, i) => {
        if (typeof step === "number") out += `[${step}]`;
        else out += i === 0 ? `:${String(step)}` : `.${String(step)}`;
    });
    return out;
}

/** Turns zod issues into messages that name the setting and say what is allowed. */
export function describeIssues(schema: z.ZodType, issues: z.core.$ZodIssue[]): string[] {
    const problems: string[] = [];
    for (const issue of issues) {
        if (issue.code === "unrecognized_keys") {
            const allowed = allowedKeysAt(schema, issue.path);
            for (const key of issue.keys) {
                const suggestion = closest(key, allowed);
                problems.push(
                    `${formatPath([...issue.path, key])}: unknown setting` +
                        (suggestion ? `; did you mean "${suggestion}"?` : "") +
                        ` Allowed here: ${allowed.join(", ")}.`,
                );
            }
        } else {
            problems.push(`${formatPath(issue.path)}: ${issue.message}`);
        }
    }
    return problems;
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

/** Validates `raw` against `schema`, throwing one ConfigError listing every problem. */
export function validate<T extends z.ZodType>(schema: T, raw: unknown): z.output<T> {
    const result = schema.safeParse(raw);
    if (!result.success) throw new ConfigError(describeIssues(schema, result.error.issues));
    return result.data;
}

/** Reads which platform the stack targets, so that the platform's own schema can validate the rest. */
export function readPlatform(raw: Record<string, unknown>): Platform {
    const parsed = commonSettings.platform.safeParse(raw.platform);
    if (!parsed.success) {
        throw new ConfigError([`${formatPath(["platform"])}: must be one of ${PLATFORMS.join(", ")}; got ${JSON.stringify(raw.platform)}`]);
    }
    return parsed.data;
}
