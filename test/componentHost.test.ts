/**
 * The components as a multi-language Pulumi package: the component host's analyzer (the one `pulumi package
 * add` runs) accepts their Args, and every component registers as `istio-multicluster:index:<Class>`.
 */
import * as path from "path";
import * as fs from "fs";
import { runProgram } from "./harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "./fixtures";

/**
 * Components whose args and outputs the host can express, by package entry point. Not yet: `Mesh` (takes
 * `Cluster` instances, a resource of this package: the host only references @pulumi packages' resources),
 * `AksCluster` and `EksCluster` (expose a `Cluster`), `SampleApps` (exposes its objects as a map of
 * resources). From another language, compose the listed ones.
 */
const MULTI_LANGUAGE: Record<string, string[]> = {
    "./components/index.js": ["Cluster", "MeshCA", "IstioPrimary", "EastWestGateway", "RemoteSecret", "MeshVerification"],
    "./components/azure.js": ["AzureNetwork"],
    "./components/aws.js": ["AwsNetwork", "AwsLoadBalancerController"],
};

test.each(Object.entries(MULTI_LANGUAGE))("the component host's analyzer accepts the args and outputs of %s's components", (entry, names) => {
    const { Analyzer } = require("@pulumi/pulumi/provider/experimental/analyzer");
    const root = path.join(__dirname, "..");
    const result = new Analyzer(root, "istio-multicluster", { name: "istio-multicluster", exports: entry }, new Set(names)).analyze();
    expect(Object.keys(result.components).sort()).toEqual([...names].sort());
    if (entry === "./components/index.js") {
        // Secrets and wiring come through as inputs other languages can pass.
        expect(result.components.Cluster.inputs.kubeconfig).toMatchObject({ type: "string" });
        expect(result.components.RemoteSecret.inputs.sourceProvider.$ref).toMatch(/kubernetes.*#\/resources\/kubernetes/);
        expect(result.components.MeshCA.inputs.clusterNames).toMatchObject({ type: "array", items: { type: "string" } });
    }
});

test("the analyzer does refuse what the host cannot express (so the test above can fail)", () => {
    const { Analyzer } = require("@pulumi/pulumi/provider/experimental/analyzer");
    const root = path.join(__dirname, "..");
    expect(() => new Analyzer(root, "istio-multicluster", { name: "istio-multicluster", exports: "./components/index.js" }, new Set(["SampleApps"])).analyze()).toThrow(
        /SampleApps/,
    );
});

test("PulumiPlugin.yaml declares a Node.js component package", () => {
    expect(fs.readFileSync(path.join(__dirname, "..", "PulumiPlugin.yaml"), "utf8")).toMatch(/^runtime: nodejs$/m);
});

test("every component's type token is istio-multicluster:index:<Class>", async () => {
    const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    const components = new Set(run.resources.filter((r) => !r.custom).map((r) => r.type));
    for (const type of components) expect(type).toMatch(/^istio-multicluster:index:[A-Z][A-Za-z]+$/);
    for (const name of ["Cluster", "MeshCA", "IstioPrimary", "EastWestGateway", "RemoteSecret", "Mesh", "SampleApps", "MeshVerification"]) {
        expect(components).toContain(`istio-multicluster:index:${name}`);
    }
});
