/**
 * Istio's real charts rendered by real Helm (`helm template`), for tests that must see what the chart makes of the
 * values the program passes (an overlay reaching the istiod Deployment, the mesh ConfigMap, the gateway's schema).
 *
 * Both come from what the end-to-end bed pins (test/e2e/bed/versions.env): Helm is the bed's (`build.sh helm` builds
 * it from Go modules into the bed cache when it is not there yet, a few minutes once), and the charts are the
 * istio.io/istio Go module of each Istio version (`go mod download`, seconds once), whose manifests/charts the bed's
 * chart directories are copied from. So these tests need Go, as the bed does.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";

const root = path.join(__dirname, "..", "..");
const versionsFile = path.join(root, "test", "e2e", "bed", "versions.env");

/** KEY=VALUE and KEY="VALUE" lines of versions.env. */
function bedVersions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of fs.readFileSync(versionsFile, "utf8").split("\n")) {
        const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
        if (m) out[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
    }
    return out;
}

const bedCache = () => process.env.ISTIO_MC_BED_CACHE || path.join(os.homedir(), ".cache", "istio-multicluster-bed");

/** The bed's Helm, built first if the cache does not hold it. */
export function helmBinary(): string {
    const version = bedVersions().HELM_VERSION;
    const dir = path.join(bedCache(), `helm-${version}`);
    const stamp = path.join(dir, ".stamp");
    const built = () => fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8").trim() === version;
    if (!built()) execFileSync("bash", [path.join(root, "test", "e2e", "bed", "build.sh"), "helm"], { stdio: "inherit" });
    if (!built()) throw new Error(`Helm ${version} is not in ${dir}; run npm run bed:build -- helm`);
    return path.join(dir, "bin", "helm");
}

const CHART_DIRS = { base: "base", istiod: "istio-control/istio-discovery", gateway: "gateway" } as const;
export type RealChart = keyof typeof CHART_DIRS;

/** The directory of one of Istio's charts at an Istio version the bed pins (ISTIO_VERSIONS), from its Go module. */
export function istioChartDir(istioVersion: string, chart: RealChart): string {
    const versions = bedVersions();
    const moduleVersion = versions[`ISTIO_MODULE_${istioVersion.replace(/\./g, "_")}`];
    if (!moduleVersion) throw new Error(`the bed pins no Istio ${istioVersion} (ISTIO_VERSIONS=${versions.ISTIO_VERSIONS})`);
    const answer = execFileSync("go", ["mod", "download", "-json", `istio.io/istio@${moduleVersion}`], {
        cwd: os.tmpdir(),
        encoding: "utf8",
        env: { ...process.env, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local" },
    });
    const { Dir, Error: error } = JSON.parse(answer) as { Dir?: string; Error?: string };
    if (!Dir) throw new Error(`go mod download istio.io/istio@${moduleVersion}: ${error}`);
    return path.join(Dir, "manifests", "charts", CHART_DIRS[chart]);
}

export interface RenderedObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    [key: string]: any;
}

/** `helm template` of one of Istio's charts with these values, as objects. Throws Helm's own error (a schema failure, say). */
export function renderIstioChart(istioVersion: string, chart: RealChart, values: Record<string, unknown>, releaseName: string, namespace = "istio-system"): RenderedObject[] {
    return renderChart(istioChartDir(istioVersion, chart), values, releaseName, namespace);
}

/** `helm template` of the chart in `chartDir`, as objects; a failing render throws with Helm's message. */
export function renderChart(chartDir: string, values: Record<string, unknown>, releaseName: string, namespace = "istio-system"): RenderedObject[] {
    const valuesFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chart-values-")), "values.json");
    fs.writeFileSync(valuesFile, JSON.stringify(values));
    let manifest: string;
    try {
        manifest = execFileSync(helmBinary(), ["template", releaseName, chartDir, "--namespace", namespace, "--values", valuesFile], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });
    } catch (e) {
        throw new Error(`helm template ${chartDir} failed: ${(e as { stderr?: string }).stderr ?? e}`);
    } finally {
        fs.rmSync(path.dirname(valuesFile), { recursive: true, force: true });
    }
    return parseAllDocuments(manifest)
        .map((d) => d.toJSON() as RenderedObject | null)
        .filter((o): o is RenderedObject => Boolean(o?.kind));
}

/** The one rendered object of this kind and name. */
export function renderedObject(objects: RenderedObject[], kind: string, name: string): RenderedObject {
    const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
    if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, rendered: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
    return found[0];
}
