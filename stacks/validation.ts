/**
 * How a bad setting is reported: one ConfigError listing every problem, each naming the setting
 * (`istio-multicluster:clusters[0].network`) and what is allowed, with a "did you mean" for unknown keys.
 * Shared by the common settings (config.ts), the samples and each platform, and imports none of them.
 */
import { z } from "zod";

export const PROJECT = "istio-multicluster";

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
    if (bestDistance <= Math.max(2, Math.floor(word.length / 3))) return best;
    // A renamed setting that kept its last word: `context` → `kubeconfigContext`.
    const suffix = word.length >= 4 ? word[0].toUpperCase() + word.slice(1) : undefined;
    return suffix ? candidates.find((c) => c.endsWith(suffix)) : undefined;
}

/**
 * Numbers and booleans may arrive as text: `pulumi config set --path` stores digits as numbers, but a quoted YAML
 * value or `--type string` keeps them as text. Every setting accepts both, the same way (schemas preprocess with these).
 */
const numberFromText = (v: unknown) => (typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v);
const booleanFromText = (v: unknown) => (v === "true" ? true : v === "false" ? false : v);
/** A number or boolean setting that also takes its value as text ("3", "true"). */
export const fromText = <T extends z.ZodType>(schema: T) => z.preprocess((v) => booleanFromText(numberFromText(v)), schema);

/** Keys an object schema allows, found by walking to `path` through the schema. */
export function allowedKeysAt(schema: z.ZodType, path: PropertyKey[]): string[] {
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
                const flat = issue.path.length === 0 ? flatPathHint(key, allowed) : undefined;
                if (flat) {
                    problems.push(`${formatPath([key])}: ${flat}`);
                    continue;
                }
                const suggestion = closest(key, allowed);
                problems.push(
                    `${formatPath([...issue.path, key])}: unknown setting` +
                        (suggestion ? `; did you mean "${suggestion}"?` : ".") +
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
 * A top-level key such as `clusters[0].network` or `ca.validityHours` is a path set without `--path`: Pulumi stored
 * it as one flat key. Says how to set it as a path (and remove the flat one), when it starts with a real setting.
 */
function flatPathHint(key: string, allowed: string[]): string | undefined {
    const m = /^([A-Za-z][A-Za-z0-9]*)[.[]/.exec(key);
    if (!m || !allowed.includes(m[1])) return undefined;
    return (
        `set without --path, so Pulumi stored one setting named "${key}" instead of a value inside ${formatPath([m[1]])}. ` +
        `Set it with \`pulumi config set --path '${key}' <value>\` and remove the flat key with \`pulumi config rm '${key}'\``
    );
}

/** Validates `raw` against `schema`, throwing one ConfigError listing every problem. */
export function validate<T extends z.ZodType>(schema: T, raw: unknown): z.output<T> {
    const result = schema.safeParse(raw);
    if (!result.success) throw new ConfigError(describeIssues(schema, result.error.issues));
    return result.data;
}
