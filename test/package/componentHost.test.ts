/**
 * The components as a multi-language Pulumi package, checked the way `pulumi package add` serves them: the
 * Node.js plugin host loads package.json `main`, takes every component class it exports, and has Pulumi's
 * component analyzer build the package schema from their Args interfaces and public fields. Then a `Mesh`
 * is constructed through that provider from inputs shaped as another language sends them.
 */
import * as path from "path";
import * as fs from "fs";
import { dependsOn, runComponents, runProgram } from "../support/harness";
import { existingStack, kubeconfigFor, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";

const root = path.join(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

const COMPONENTS = [
    "Cluster",
    "MeshCA",
    "IstioPreflight",
    "IstioPrimary",
    "EastWestGateway",
    "RemoteSecret",
    "Mesh",
    "SampleApps",
    "MeshVerification",
    "AzureNetwork",
    "AksCluster",
    "AwsNetwork",
    "EksCluster",
    "AwsLoadBalancerController",
];

/** Cloud and core packages whose resources the schema may reference. */
const REFERENCED_PACKAGES = ["kubernetes", "tls", "aws", "eks", "azure-native"];

type Schema = { resources: Record<string, any>; types: Record<string, any>; dependencies: { name: string }[] };

/**
 * Each Analyzer builds a TypeScript program of the whole project from its tsconfig (about 10 s here), and
 * this file makes three of them from the same files and options: they share one program.
 */
const mockPrograms = new Map<string, unknown>();
jest.mock("@pulumi/pulumi/typescript-shim", () => {
    const ts = jest.requireActual("typescript");
    return {
        ...ts,
        createProgram: (args: { rootNames: string[]; options: unknown }) => {
            const key = JSON.stringify([args.rootNames, args.options]);
            if (!mockPrograms.has(key)) mockPrograms.set(key, ts.createProgram(args));
            return mockPrograms.get(key);
        },
    };
});

/** What the plugin host does at start-up: load `main`, find its components, serve them (loaded when called). */
function componentProvider(): { provider: any; components: string[] } {
    const { ComponentProvider, getPulumiComponents } = require("@pulumi/pulumi/provider/experimental/provider");
    const components = getPulumiComponents(require(path.join(root, pkg.main)));
    return { provider: new ComponentProvider({ dirname: root, name: pkg.name, components }), components: components.map((c: Function) => c.name) };
}

/** The host's start-up, short of serving gRPC: the components it found and the schema it makes of them. */
async function hostSchema(): Promise<{ components: string[]; schema: Schema }> {
    const { provider, components } = componentProvider();
    return { components, schema: JSON.parse(await provider.getSchema()) };
}

/** Names of the interfaces and enums this package declares: the only object types its schema may define. */
function declaredTypeNames(): Set<string> {
    const names = new Set<string>();
    const files = fs.readdirSync(path.join(root, "components"), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    for (const file of files) {
        const source = fs.readFileSync(path.join(root, "components", file), "utf8");
        for (const m of source.matchAll(/^export (?:interface|enum) (\w+)/gm)) names.add(m[1]);
    }
    return names;
}

/**
 * What the analyzer lets through but other languages could not use: object types that are not this
 * package's own interfaces (a `pulumi.Resource` argument becomes a type `Resource` with just a `urn`), and
 * references to resources of packages the package does not build on.
 */
function hostProblems(analyzed: { typeDefinitions: Record<string, unknown> } | Schema): string[] {
    const declared = declaredTypeNames();
    const problems: string[] = [];
    const typeNames = "typeDefinitions" in analyzed ? Object.keys(analyzed.typeDefinitions) : Object.keys(analyzed.types).map((t) => t.split(":")[2]);
    for (const name of typeNames) if (!declared.has(name)) problems.push(`type ${name} is not an interface of this package`);
    JSON.stringify(analyzed, (key, value) => {
        if (key === "$ref" && typeof value === "string" && value.startsWith("/")) {
            const referenced = value.split("/")[1];
            if (!REFERENCED_PACKAGES.includes(referenced)) problems.push(`reference to ${value}`);
        }
        return value;
    });
    return problems;
}

describe("the plugin host's view of the package", () => {
    let host: { components: string[]; schema: Schema };
    beforeAll(async () => {
        host = await hostSchema();
    }, 120000);

    test("package.json main is the plugin entry, and it exports every component", () => {
        expect(pkg.main).toBe("plugin.ts");
        expect(fs.readFileSync(path.join(root, "PulumiPlugin.yaml"), "utf8")).toMatch(/^runtime: nodejs$/m);
        expect([...host.components].sort()).toEqual([...COMPONENTS].sort());
    });

    test("the schema has every component as istio-multicluster:index:<Class>", () => {
        expect(Object.keys(host.schema.resources).sort()).toEqual(COMPONENTS.map((c) => `istio-multicluster:index:${c}`).sort());
        for (const resource of Object.values(host.schema.resources)) expect(resource.isComponent).toBe(true);
    });

    test("every type is one of the package's interfaces and every reference is to a @pulumi package it uses", () => {
        expect(hostProblems(host.schema)).toEqual([]);
        expect(host.schema.dependencies.map((d) => d.name).sort()).toEqual(["aws", "azure-native", "eks", "kubernetes"]);
    });

    test("other languages can pass what the mesh needs: providers, secrets, dependencies as values", () => {
        const resource = (c: string) => host.schema.resources[`istio-multicluster:index:${c}`];
        const type = (t: string) => host.schema.types[`istio-multicluster:index:${t}`];
        expect(resource("Mesh").inputProperties.clusters).toMatchObject({ type: "array", items: { $ref: "#/types/istio-multicluster:index:MeshClusterArgs" } });
        const member = type("MeshClusterArgs").properties;
        expect(member.provider.$ref).toMatch(/^\/kubernetes\/v[\d.]+\/schema\.json#\/resources\/kubernetes$/);
        // Not plain: a list output (a Cluster's readyDependencies, say) can be passed as it is.
        expect(member.readyDependencies).toEqual(expect.objectContaining({ type: "array", items: { type: "string" } }));
        expect(member.readyDependencies.plain).toBeUndefined();
        expect(type("MeshClusterArgs").required.sort()).toEqual(["apiServerUrl", "clusterName", "network", "provider"]);
        expect(resource("Cluster").inputProperties.kubeconfig).toMatchObject({ type: "string" });
        expect(resource("Mesh").properties.istiodReleases.additionalProperties.$ref).toMatch(/kubernetes:helm\.sh%2Fv3:Release$/);
        // AKS and EKS clusters expose what a MeshClusterArgs needs.
        for (const c of ["Cluster", "AksCluster", "EksCluster"]) {
            expect(Object.keys(resource(c).properties)).toEqual(expect.arrayContaining(["clusterName", "network", "provider", "apiServerUrl", "readyDependencies", "loadBalancerDependencies", "kubeconfig"]));
        }
    });
});

describe("the checks fail on what the host cannot serve", () => {
    const analyze = (names: string[]) => {
        const { Analyzer } = require("@pulumi/pulumi/provider/experimental/analyzer");
        return new Analyzer(root, pkg.name, { name: pkg.name, exports: "./test/package/hostRuleBreakers.js" }, new Set(names)).analyze();
    };

    test("a resource-typed argument passes the analyzer but not hostProblems", () => {
        expect(hostProblems(analyze(["TakesResources"]))).toEqual(["type Resource is not an interface of this package"]);
    });

    test("an argument typed with a component of this package is refused by the analyzer", () => {
        expect(() => analyze(["TakesOwnComponents"])).toThrow();
    });
});

test("a Mesh constructed through the component provider, as from another language, waits for the dependency values it is given", async () => {
    const run = await runComponents(async () => {
        const k8s = require("@pulumi/kubernetes");
        const { provider } = componentProvider();
        // Stand-ins for what a cluster's platform makes first (a node pool) and what load balancers need.
        const nodePool = new k8s.core.v1.ConfigMap("node-pool", { metadata: { name: "node-pool" } });
        const lbPermission = new k8s.core.v1.ConfigMap("lb-permission", { metadata: { name: "lb-permission" } });
        const clusters = ["east", "west"].map((name) => ({
            clusterName: name,
            network: `net-${name}`,
            provider: new k8s.Provider(`${name}-k8s`, { kubeconfig: kubeconfigFor(name) }),
            apiServerUrl: `https://${name}.example.internal:6443`,
            readyDependencies: [nodePool.urn],
            loadBalancerDependencies: [lbPermission.urn],
        }));
        const constructed = await provider.construct("mesh", "istio-multicluster:index:Mesh", { meshId: "mesh1", istioVersion: "1.30.4", clusters }, {});
        return { stateKeys: Object.keys(constructed.state).sort(), istiodClusters: Object.keys(constructed.state.istiodReleases).sort() };
    });
    const find = (type: string, name: string) => {
        const found = run.resources.find((r) => r.type === type && r.name === name);
        if (!found) throw new Error(`no ${type} ${name}`);
        return found;
    };
    const nodePool = find("kubernetes:core/v1:ConfigMap", "node-pool");
    const lbPermission = find("kubernetes:core/v1:ConfigMap", "lb-permission");
    for (const name of ["east", "west"]) {
        const namespace = find("kubernetes:core/v1:Namespace", `mesh-${name}-istio-system`);
        const gateway = find("kubernetes:helm.sh/v3:Release", `mesh-${name}-eastwest-release`);
        expect(dependsOn(run.resources, namespace, nodePool)).toBe(true);
        expect(dependsOn(run.resources, namespace, lbPermission)).toBe(false);
        expect(dependsOn(run.resources, gateway, lbPermission)).toBe(true);
    }
    expect(run.resources.filter((r) => r.type === "istio-multicluster:index:RemoteSecret")).toHaveLength(2);
    expect(run.outputs.stateKeys).toEqual(["caValidityDays", "eastWestGatewayAddresses", "istiodReleases", "rootCertPem", "workloadInjection"]);
    expect(run.outputs.istiodClusters).toEqual(["east", "west"]);
}, 120000);

test("every component's type token is istio-multicluster:index:<Class>", async () => {
    const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    // The package's own components; the kubernetes provider's helm.v4.Chart (the preflight) is a component too, of its package.
    const components = new Set(run.resources.filter((r) => !r.custom && r.type !== "kubernetes:helm.sh/v4:Chart").map((r) => r.type));
    for (const type of components) expect(type).toMatch(/^istio-multicluster:index:[A-Z][A-Za-z]+$/);
    for (const name of ["Cluster", "MeshCA", "IstioPreflight", "IstioPrimary", "EastWestGateway", "RemoteSecret", "Mesh", "SampleApps", "MeshVerification"]) {
        expect(components).toContain(`istio-multicluster:index:${name}`);
    }
});

test("every analysis in this file shared one TypeScript program (and so analysed the same files)", () => {
    expect(mockPrograms.size).toBe(1);
});
