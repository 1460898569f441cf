/**
 * Where Istio's charts and images come from: `istioChartSource` (Helm repository, OCI registry or a local
 * directory) and `istioImageHub`, each bad value refused before anything is declared with the setting named.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Declared, RunResult, ofType, plain, runProgram, runProgramExpectingError } from "../support/harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";
import { istioChart, localChartProblems, parseChartSource } from "../../components/common/istioVersion";

const RELEASE = "kubernetes:helm.sh/v3:Release";
/** Istio's releases: base, istiod and the east-west gateway per cluster, and Bookinfo's ingress gateway. */
const istioReleases = (run: RunResult) => ofType(run.resources, RELEASE).map((r) => ({ name: r.name, ...plain(r.inputs) }) as Record<string, any>);
const chartOf = (r: Record<string, any>) => String(r.chart).split("/").pop();

async function failure(config: Record<string, unknown>): Promise<string> {
    const { error, resources } = await runProgramExpectingError(config);
    expect(resources.filter((r: Declared) => r.custom)).toEqual([]);
    return error.message;
}

const stack = (extra: Record<string, unknown> = {}) => existingStack(THREE_CLUSTERS_TWO_NETWORKS, extra);

/** A chart directory as the end-to-end bed builds it: base/, istiod/, gateway/ with Chart.yaml at `version`. */
function chartDir(version: string, charts: string[] = ["base", "istiod", "gateway"]): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "istio-charts-"));
    for (const c of charts) {
        fs.mkdirSync(path.join(dir, c));
        fs.writeFileSync(path.join(dir, c, "Chart.yaml"), `apiVersion: v2\nname: ${c}\nversion: ${version}\nappVersion: ${version}\n`);
    }
    return dir;
}

describe("defaults: Istio's Helm repository and docker.io/istio", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(stack());
    });

    test("every Istio chart (base, istiod, east-west and ingress gateways) from https://blob.istio.io/istio-release/charts at 1.31.1", () => {
        const releases = istioReleases(run);
        expect(releases.map(chartOf).sort()).toEqual([...Array(3).fill("base"), ...Array(4).fill("gateway"), ...Array(3).fill("istiod")]);
        for (const r of releases) {
            expect({ name: r.name, chart: r.chart, version: r.version, repositoryOpts: r.repositoryOpts }).toEqual({
                name: r.name,
                chart: chartOf(r),
                version: "1.31.1",
                repositoryOpts: { repo: "https://blob.istio.io/istio-release/charts" },
            });
        }
    });

    test("every chart that runs Istio images gets global.hub docker.io/istio and the Istio version as tag", () => {
        for (const r of istioReleases(run).filter((r) => chartOf(r) !== "base")) {
            expect({ name: r.name, global: r.values.global }).toEqual({ name: r.name, global: expect.objectContaining({ hub: "docker.io/istio", tag: "1.31.1" }) });
        }
    });
});

describe("istioChartSource", () => {
    test("Istio's OCI registry: the full oci:// reference as the chart, pinned, no repository", async () => {
        const run = await runProgram(stack({ istioChartSource: "oci://ghcr.io/istio/release/charts" }));
        const releases = istioReleases(run);
        expect(releases).toHaveLength(10);
        for (const r of releases) {
            expect(r.chart).toBe(`oci://ghcr.io/istio/release/charts/${chartOf(r)}`);
            expect(r.version).toBe("1.31.1");
            expect(r.repositoryOpts).toBeUndefined();
        }
    });

    test("a mirror Helm repository (a trailing slash is dropped)", async () => {
        const run = await runProgram(stack({ istioChartSource: "https://charts.mirror.example.com/istio/" }));
        for (const r of istioReleases(run)) expect(r.repositoryOpts).toEqual({ repo: "https://charts.mirror.example.com/istio" });
    });

    test("a local directory, given relative to the project: each chart by its absolute path, pinned", async () => {
        const dir = chartDir("1.31.1");
        try {
            const relative = path.relative(process.cwd(), dir);
            expect(path.isAbsolute(relative)).toBe(false);
            const run = await runProgram(stack({ istioChartSource: relative }));
            const releases = istioReleases(run);
            expect(releases).toHaveLength(10);
            for (const r of releases) {
                // Absolute: the state says the same whatever directory Pulumi (or the provider) runs in.
                expect(r.chart).toBe(path.join(dir, chartOf(r)!));
                expect(r.version).toBe("1.31.1");
                expect(r.repositoryOpts).toBeUndefined();
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("a local directory missing a chart fails before anything is declared, naming both settings", async () => {
        const dir = chartDir("1.31.1", ["base", "istiod"]);
        try {
            const msg = await failure(stack({ istioChartSource: dir }));
            expect(msg).toContain(`istio-multicluster:istioChartSource: ${path.join(dir, "gateway", "Chart.yaml")} is missing`);
            expect(msg).toMatch(/must match istio-multicluster:istioVersion \(1\.31\.1\)/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("a local directory with charts of another version fails, naming both settings", async () => {
        const dir = chartDir("1.30.5");
        try {
            const msg = await failure(stack({ istioChartSource: dir }));
            for (const c of ["base", "istiod", "gateway"]) {
                expect(msg).toContain(`istio-multicluster:istioChartSource: ${path.join(dir, c, "Chart.yaml")} has version "1.30.5", not the Istio version 1.31.1`);
            }
            // With istioVersion matching, the same directory is fine.
            const run = await runProgram(stack({ istioChartSource: dir, istioVersion: "1.30.5" }));
            expect(istioReleases(run).every((r) => r.version === "1.30.5")).toBe(true);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("a directory that does not exist", async () => {
        const msg = await failure(stack({ istioChartSource: "/nonexistent/istio-charts" }));
        expect(msg).toContain("istio-multicluster:istioChartSource: /nonexistent/istio-charts/base/Chart.yaml is missing");
    });

    test.each([
        ["http://charts.example.com", /uses an unsupported scheme; use an https:\/\/ Helm repository, an oci:\/\/ registry or a local directory/],
        ["s3://bucket/charts", /uses an unsupported scheme/],
        ["oci://", /is not an OCI reference such as oci:\/\/ghcr\.io\/istio\/release\/charts/],
        ["https://", /is not a URL/],
        ["   ", /must not be empty/],
    ])("refused: %j", async (value, message) => {
        const msg = await failure(stack({ istioChartSource: value }));
        expect(msg).toMatch(/istio-multicluster:istioChartSource: /);
        expect(msg).toMatch(message);
        expect(msg).toMatch(/Allowed: an https:\/\/ Helm repository \(default https:\/\/blob\.istio\.io\/istio-release\/charts\), an oci:\/\/ registry/);
    });

    test("how each source becomes Release arguments", () => {
        expect(istioChart("istiod", "1.31.1")).toEqual({ chart: "istiod", version: "1.31.1", repositoryOpts: { repo: "https://blob.istio.io/istio-release/charts" } });
        expect(istioChart("base", "1.31.1", "oci://ghcr.io/istio/release/charts/")).toEqual({ chart: "oci://ghcr.io/istio/release/charts/base", version: "1.31.1" });
        expect(istioChart("gateway", "1.30.5", "/srv/charts")).toEqual({ chart: "/srv/charts/gateway", version: "1.30.5" });
        expect(parseChartSource("charts", "/work/project")).toEqual({ kind: "local", dir: "/work/project/charts" });
    });

    test("the chart directory check reads each Chart.yaml's version", () => {
        const files: Record<string, string> = { "/c/base/Chart.yaml": "version: 1.31.1", "/c/istiod/Chart.yaml": "version: 1.31.0", "/c/gateway/Chart.yaml": ": not yaml: [" };
        const read = (p: string) => {
            if (!(p in files)) throw new Error("ENOENT");
            return files[p];
        };
        expect(localChartProblems("/c", "1.31.1", read)).toEqual([
            '/c/istiod/Chart.yaml has version "1.31.0", not the Istio version 1.31.1',
            expect.stringMatching(/^\/c\/gateway\/Chart\.yaml is not YAML/),
        ]);
    });
});

describe("istioImageHub", () => {
    test("a mirror reaches istiod, every gateway chart and the sample images; samples.imageHub still wins for samples", async () => {
        const run = await runProgram(stack({ istioImageHub: "mirror.example.com:5000/istio" }));
        for (const r of istioReleases(run).filter((r) => chartOf(r) !== "base")) expect(r.values.global).toMatchObject({ hub: "mirror.example.com:5000/istio", tag: "1.31.1" });
        const images = ofType(run.resources, "kubernetes:apps/v1:Deployment").flatMap((d) => d.inputs.spec.template.spec.containers.map((c: any) => c.image as string));
        const istioSamples = images.filter((i) => /examples-/.test(i));
        expect(istioSamples.length).toBeGreaterThan(0);
        for (const image of istioSamples) expect(image).toMatch(/^mirror\.example\.com:5000\/istio\/examples-/);

        const own = await runProgram(stack({ istioImageHub: "mirror.example.com/istio", samples: { imageHub: "samples.example.com/istio" } }));
        const ownImages = ofType(own.resources, "kubernetes:apps/v1:Deployment").flatMap((d) => d.inputs.spec.template.spec.containers.map((c: any) => c.image as string));
        for (const image of ownImages.filter((i) => /examples-/.test(i))) expect(image).toMatch(/^samples\.example\.com\/istio\//);
        for (const r of istioReleases(own).filter((r) => chartOf(r) !== "base")) expect(r.values.global.hub).toBe("mirror.example.com/istio");
    });

    test.each(["Docker.io/Istio", "docker.io/istio/pilot:1.31.1", "https://docker.io/istio", "docker.io/istio/"])("refused: %j", async (value) => {
        const msg = await failure(stack({ istioImageHub: value }));
        expect(msg).toMatch(/istio-multicluster:istioImageHub: must be an image registry and repository such as docker\.io\/istio \(lowercase, no image name or tag\)/);
    });
});
