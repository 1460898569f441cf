/**
 * The documentation keeps up with the program: every setting the program accepts is in the configuration
 * reference (found by walking the real zod schemas, so a new setting without docs fails here), every
 * relative link in README.md and docs/*.md resolves, and the README stays a front door.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { existingSettingsSchema } from "../../stacks/existing";
import { azureSettingsSchema } from "../../stacks/azure";
import { awsSettingsSchema } from "../../stacks/aws";

const root = path.join(__dirname, "..", "..");

const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8");

// ---- settings from the schemas -----------------------------------------------------------------------

/** A zod (v4) schema's definition; only the parts the walk needs. */
interface Def {
    type: string;
    innerType?: Schema;
    in?: Schema;
    out?: Schema;
    shape?: Record<string, Schema>;
    element?: Schema;
    valueType?: Schema;
    options?: Schema[];
}
type Schema = { _zod: { def: Def } };
const def = (s: Schema): Def => s._zod.def;

/** Strips what does not change a setting's shape: optional, default, prefault, nullable, pipes (preprocess, transform). */
function unwrap(s: Schema): Schema {
    const d = def(s);
    if (d.innerType && ["optional", "default", "prefault", "nullable", "readonly", "catch", "nonoptional"].includes(d.type)) return unwrap(d.innerType);
    // z.preprocess(f, schema) is pipe(transform, schema); schema.transform(f) is pipe(schema, transform).
    if (d.type === "pipe" && d.in && d.out) return unwrap(def(d.in).type === "transform" ? d.out : d.in);
    return s;
}

/** An object, or a list or map of objects: a setting with settings inside. */
function structured(s: Schema): Schema | undefined {
    const u = unwrap(s);
    const d = def(u);
    if (d.type === "object") return u;
    if (d.type === "array" && d.element) return structured(d.element) && u;
    if (d.type === "record" && d.valueType) return structured(d.valueType) && u;
    return undefined;
}

/**
 * Every setting path under a schema: `clusters[].subnetCidr`, `samples.verification.rounds`,
 * `ca.provided.clusters.<name>.certPem`. `leaves` are what a user sets; `all` adds the objects holding them.
 */
function settingPaths(schema: Schema, prefix = "", out = { leaves: new Set<string>(), all: new Set<string>() }) {
    const d = def(unwrap(schema));
    if (d.type === "object" && d.shape) {
        for (const [key, child] of Object.entries(d.shape)) {
            const name = prefix ? `${prefix}.${key}` : key;
            out.all.add(name);
            if (structured(child)) settingPaths(child, name, out);
            else out.leaves.add(name);
        }
    } else if (d.type === "array" && d.element) {
        settingPaths(d.element, `${prefix}[]`, out);
    } else if (d.type === "record" && d.valueType) {
        settingPaths(d.valueType, `${prefix}.<name>`, out);
    }
    return out;
}

const platforms = { existing: existingSettingsSchema, azure: azureSettingsSchema, aws: awsSettingsSchema } as unknown as Record<string, Schema>;
const perPlatform = Object.entries(platforms).map(([name, schema]) => ({ name, topLevel: Object.keys(def(unwrap(schema)).shape ?? {}), ...settingPaths(schema) }));
/** Scalars typed in Pulumi.yaml (what `pulumi config` shows). */
const projectKeys = Object.keys((parse(read("Pulumi.yaml")) as { config?: Record<string, unknown> }).config ?? {});

const required = new Set([...perPlatform.flatMap((p) => [...p.topLevel, ...p.leaves]), ...projectKeys]);
const known = new Set([...perPlatform.flatMap((p) => [...p.all]), ...projectKeys]);

// ---- the reference's tables ------------------------------------------------------------------------

const cells = (line: string) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((c) => c.trim());

/** Rows of every table whose first column is "setting": setting path → the row's cells. */
function referenceRows(markdown: string): Map<string, string[]> {
    const rows = new Map<string, string[]>();
    let inSettingsTable = false;
    let columns = 0;
    for (const line of markdown.split("\n")) {
        if (!line.trim().startsWith("|")) {
            inSettingsTable = false;
            continue;
        }
        const row = cells(line);
        if (!inSettingsTable && row[0]?.toLowerCase() === "setting") {
            inSettingsTable = true;
            columns = row.length;
            continue;
        }
        if (!inSettingsTable || /^:?-+:?$/.test(row[0] ?? "")) continue;
        const m = /^`([^`]+)`$/.exec(row[0]);
        rows.set(m ? m[1] : row[0], row.length === columns ? row : []);
    }
    return rows;
}

const reference = referenceRows(read("docs/configuration.md"));

test("the walk finds the settings it should (nested objects, lists of clusters, maps of clusters)", () => {
    for (const p of ["platform", "meshId", "clusters[].name", "clusters[].subnetCidr", "clusters[].ipFamily", "clusters[].kubeconfigPath", "samples.verification.rounds", "ca.provided.rootCertPem", "ca.provided.clusters.<name>.keyPem", "azure.containerRegistry.sku", "aws.tags"]) {
        expect(required).toContain(p);
    }
    expect(required.size).toBeGreaterThan(60);
});

test("every setting the program accepts is in docs/configuration.md, with type, default and allowed values", () => {
    const missing = [...required].filter((p) => !reference.has(p)).sort();
    expect(missing).toEqual([]);
    const incomplete = [...required].filter((p) => reference.get(p)?.slice(1).some((c) => c === "")).sort();
    expect(incomplete).toEqual([]);
});

test("docs/configuration.md documents no setting the program does not accept", () => {
    expect([...reference.keys()].filter((p) => !known.has(p)).sort()).toEqual([]);
});

// ---- links ---------------------------------------------------------------------------------------

const pages = ["README.md", ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

/** Markdown without fenced code blocks. */
const unfenced = (markdown: string) => markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
/** Markdown without fenced code blocks and inline code, where link syntax means nothing. */
const prose = (markdown: string) => unfenced(markdown).replace(/`[^`\n]*`/g, "");

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to '-', repeats numbered -1, -2… */
function anchors(markdown: string): Set<string> {
    const seen = new Map<string, number>();
    const out = new Set<string>();
    for (const line of unfenced(markdown).split("\n")) {
        const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
        if (!m) continue;
        const text = m[1].replace(/`([^`]*)`/g, "$1").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/<[^>]+>/g, "");
        const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
        const n = seen.get(base) ?? 0;
        seen.set(base, n + 1);
        out.add(n === 0 ? base : `${base}-${n}`);
    }
    return out;
}

test("every relative link in README.md and docs/*.md resolves to a file, and every #anchor to a heading", () => {
    expect(pages).toEqual(expect.arrayContaining(["README.md", "docs/configuration.md", "docs/testing.md", "docs/benchmarks.md"]));
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages) {
        for (const m of prose(read(page)).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
            const target = m[1];
            if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
            checked++;
            const [file, anchor] = target.split("#", 2);
            const resolved = file ? path.join(path.dirname(path.join(root, page)), decodeURIComponent(file)) : path.join(root, page);
            if (!resolved.startsWith(root) || !fs.existsSync(resolved)) {
                broken.push(`${page}: ${target} (no such file)`);
            } else if (anchor !== undefined && !(resolved.endsWith(".md") && anchors(fs.readFileSync(resolved, "utf8")).has(decodeURIComponent(anchor)))) {
                broken.push(`${page}: ${target} (no such heading)`);
            }
        }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(20);
});

test("the anchor rule is GitHub's", () => {
    expect([...anchors("# AWS: two EKS clusters (IPv4 and IPv6) in one VPC\n## `ca.provided`\n## IPv4 ↔ IPv6\n## Notes\n## Notes\n```\n# not a heading\n```")]).toEqual([
        "aws-two-eks-clusters-ipv4-and-ipv6-in-one-vpc",
        "caprovided",
        "ipv4--ipv6",
        "notes",
        "notes-1",
    ]);
});

// ---- the front door --------------------------------------------------------------------------------

test("README.md is a front door: at most 300 lines", () => {
    expect(read("README.md").trimEnd().split("\n").length).toBeLessThanOrEqual(300);
});
