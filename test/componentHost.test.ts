/**
 * The components as a multi-language Pulumi package: the component host's analyzer (the one `pulumi package
 * add` runs) accepts their Args, and every component registers as `istio-multicluster:index:<Class>`.
 */
import * as path from "path";
import * as fs from "fs";
import { runProgram } from "./harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "./fixtures";

// Mesh takes Cluster instances, a resource reference to a component of this package, which the host cannot
// express (it only references @pulumi packages' resources): Mesh is for TypeScript users.
const MULTI_LANGUAGE = ["Cluster", "MeshCA", "IstioPrimary", "EastWestGateway", "RemoteSecret"];

test("the component host's analyzer accepts every multi-language component's args and outputs", () => {
    const { Analyzer } = require("@pulumi/pulumi/provider/experimental/analyzer");
    const root = path.join(__dirname, "..");
    const analyzer = new Analyzer(root, "istio-multicluster", { name: "istio-multicluster", exports: "./components/index.js" }, new Set(MULTI_LANGUAGE));
    const result = analyzer.analyze();
    expect(Object.keys(result.components).sort()).toEqual([...MULTI_LANGUAGE].sort());
    // Secrets and wiring come through as inputs other languages can pass.
    expect(result.components.Cluster.inputs.kubeconfig).toMatchObject({ type: "string" });
    expect(result.components.RemoteSecret.inputs.sourceProvider.$ref).toMatch(/kubernetes.*#\/resources\/kubernetes/);
    expect(result.components.MeshCA.inputs.clusterNames).toMatchObject({ type: "array", items: { type: "string" } });
});

test("PulumiPlugin.yaml declares a Node.js component package", () => {
    expect(fs.readFileSync(path.join(__dirname, "..", "PulumiPlugin.yaml"), "utf8")).toMatch(/^runtime: nodejs$/m);
});

test("every component's type token is istio-multicluster:index:<Class>", async () => {
    const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    const components = new Set(run.resources.filter((r) => !r.custom).map((r) => r.type));
    for (const type of components) expect(type).toMatch(/^istio-multicluster:index:[A-Z][A-Za-z]+$/);
    for (const name of [...MULTI_LANGUAGE, "Mesh"]) expect(components).toContain(`istio-multicluster:index:${name}`);
});
