/**
 * The TypeScript in README.md and docs/*.md compiles: every ```ts (or ```typescript) block is type-checked, strict,
 * against the library's source as a user imports it (`istio-multicluster`, `istio-multicluster/azure`, `/aws`) and
 * the installed SDKs. A block that does not start with an `import` continues the block before it on the same page
 * (docs show a program in steps); a block that starts with one begins a new program.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const root = path.join(__dirname, "..", "..");
const PAGES = ["README.md", ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

interface Snippet {
    /** Where it comes from, such as README.md:199 (the line of its first block's opening fence). */
    where: string;
    code: string;
}

/** The programs of a page: its TypeScript blocks, continuation blocks joined to the one before. */
function snippets(page: string, text: string): Snippet[] {
    const out: Snippet[] = [];
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
        if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
        const start = i + 1;
        let end = start;
        while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
        const code = lines.slice(start, end).join("\n");
        if (/^\s*import\s/.test(code) || out.length === 0 || !out[out.length - 1].where.startsWith(`${page}:`)) out.push({ where: `${page}:${start}`, code });
        else out[out.length - 1].code += `\n${code}`;
        i = end;
    }
    return out;
}

/** Type errors of each snippet, as "page:line: message". */
function compile(list: Snippet[]): string[] {
    const files = new Map(list.map((s, i) => [path.join(root, ".doc-snippets", `snippet${i}.ts`), s]));
    const options: ts.CompilerOptions = {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.CommonJS,
        moduleResolution: ts.ModuleResolutionKind.Node10,
        lib: ["lib.es2022.d.ts"],
        strict: true,
        esModuleInterop: true,
        skipLibCheck: true,
        noEmit: true,
        types: ["node"],
        baseUrl: root,
        // The package as a user imports it (its exports map points at the build of these files).
        paths: { "istio-multicluster": ["components/index.ts"], "istio-multicluster/*": ["components/*/index.ts"] },
    };
    const host = ts.createCompilerHost(options);
    const original = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
    host.fileExists = (f) => files.has(f) || original.fileExists(f);
    host.readFile = (f) => files.get(f)?.code ?? original.readFile(f);
    host.getSourceFile = (f, lang, ...rest) => {
        const snippet = files.get(f);
        return snippet ? ts.createSourceFile(f, snippet.code, lang) : original.getSourceFile(f, lang, ...rest);
    };
    const program = ts.createProgram([...files.keys()], options, host);
    return ts
        .getPreEmitDiagnostics(program)
        .filter((d) => d.file && files.has(d.file.fileName))
        .map((d) => {
            const snippet = files.get(d.file!.fileName)!;
            const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
            const [page, first] = snippet.where.split(":");
            return `${page}, line ${line + 1} of the block at line ${first}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
        });
}

/** A page whose program does not compile (line 3 of its first block), with a continuation block. */
const BROKEN = ["```ts", 'import { Mesh } from "istio-multicluster";', "const n: number = 1;", "```", "text", "```ts", 'new Mesh("m", { meshId: n });', "```"].join("\n");

// One program for the docs and the broken page: type-checking against the SDKs is most of the time.
const docs = PAGES.flatMap((page) => snippets(page, fs.readFileSync(path.join(root, page), "utf8")));
const broken = snippets("docs/broken.md", BROKEN);
let errors: string[];
beforeAll(() => {
    errors = compile([...docs, ...broken]);
});

test("every TypeScript block of README.md and docs/*.md compiles against the library and the SDKs", () => {
    // README's example and the library page's (whose second block continues the first).
    expect(docs.map((s) => s.where.split(":")[0])).toEqual(expect.arrayContaining(["README.md", "docs/library.md"]));
    expect(errors.filter((e) => !e.startsWith("docs/broken.md"))).toEqual([]);
});

test("the check does catch a block that does not compile, and joins a continuation to its page's program", () => {
    expect(broken).toHaveLength(1);
    expect(errors.filter((e) => e.startsWith("docs/broken.md")).join("\n")).toMatch(/docs\/broken\.md, line 3 of the block at line 1: .*number/);
});
