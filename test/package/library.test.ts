/**
 * The components as a library: build the package, then use it from a separate tiny consumer program
 * (plain JavaScript, as another Pulumi project would) under Pulumi's mocks.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";

const root = path.join(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

test("package metadata: exports with types, only what a library needs as dependencies", () => {
    expect(pkg.exports["."]).toEqual({ types: "./dist/components/index.d.ts", default: "./dist/components/index.js" });
    expect(Object.keys(pkg.exports).sort()).toEqual([".", "./aws", "./azure"]);
    // Installed from git or a path, npm runs `prepare`: the build must happen there (dist/ is not committed).
    expect(pkg.scripts.prepare).toBe("npm run build");
    expect(pkg.scripts.build).toBe("tsc -p tsconfig.build.json");
    expect(Object.keys(pkg.dependencies).sort()).toEqual(["@pulumi/kubernetes", "@pulumi/pulumi", "@pulumi/tls", "yaml", "zod"]);
    // Cloud SDKs are needed only by the cloud components: optional peers.
    for (const cloud of ["@pulumi/azure-native", "@pulumi/aws", "@pulumi/eks"]) expect(pkg.peerDependenciesMeta[cloud]).toEqual({ optional: true });
});

/**
 * `tsc -p tsconfig.build.json` (the package's build) into node_modules/.cache. A build parses 1.5 million lines of
 * the SDKs' declarations (~10 s), so it runs only when its inputs changed (the components, the tsconfigs and the
 * lockfile, hashed); otherwise the output of the last successful build of the same inputs is used. Output of a
 * source file that no longer exists is removed. Returns the output directory.
 */
function buildLibrary(): string {
    const cache = path.join(root, "node_modules", ".cache", "istio-multicluster-library");
    const outDir = path.join(cache, "dist");
    const stamp = path.join(cache, "inputs.sha256");
    const walk = (dir: string): string[] =>
        fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
    const inputs = [...walk(path.join(root, "components")).filter((f) => f.endsWith(".ts")).sort(), ...["tsconfig.json", "tsconfig.build.json", "package-lock.json"].map((f) => path.join(root, f))];
    const hash = crypto.createHash("sha256");
    for (const file of inputs) hash.update(path.relative(root, file)).update("\0").update(fs.readFileSync(file)).update("\0");
    const digest = hash.digest("hex");
    if (fs.existsSync(outDir) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === digest) return outDir;

    fs.rmSync(stamp, { force: true });
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", outDir, "--incremental", "--tsBuildInfoFile", path.join(cache, "build.tsbuildinfo")], {
        cwd: root,
        stdio: "pipe",
    });
    for (const file of walk(outDir)) {
        const source = path.join(root, path.relative(outDir, file)).replace(/(\.d\.ts|\.js\.map|\.js)$/, ".ts");
        if (!fs.existsSync(source)) fs.rmSync(file);
    }
    fs.writeFileSync(stamp, digest);
    return outDir;
}

describe("a consumer project", () => {
    // Inside the repository so Node finds the shared node_modules; removed afterwards.
    const consumer = path.join(root, ".consumer-test");
    const installed = path.join(consumer, "node_modules", "istio-multicluster");

    beforeAll(() => {
        fs.rmSync(consumer, { recursive: true, force: true });
        fs.mkdirSync(installed, { recursive: true });
        // What `npm pack` would ship: package.json and the build (`npm run build`'s tsc, into a cache, see below).
        fs.cpSync(buildLibrary(), path.join(installed, "dist"), { recursive: true });
        fs.copyFileSync(path.join(root, "package.json"), path.join(installed, "package.json"));
        // Its own package scope, or Node would resolve "istio-multicluster" to the repository itself.
        fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true }));
        fs.writeFileSync(
            path.join(consumer, "program.js"),
            `
const pulumi = require("@pulumi/pulumi");
const seen = [];
pulumi.runtime.setMocks({
    // Just enough provider behaviour: keys and certificates, and filled-in service-account tokens.
    newResource: (a) => {
        seen.push(a.type);
        const pem = "-----BEGIN X-----\\nAA==\\n-----END X-----\\n";
        return { id: a.name + "-id", state: { ...a.inputs, privateKeyPem: pem, certPem: pem, certRequestPem: pem, data: { token: "dG9rZW4=", "ca.crt": "Y2E=" } } };
    },
    call: (a) => { throw new Error("unexpected invoke " + a.token); },
}, "consumer", "dev", false);
const lib = require("istio-multicluster");
const kubeconfig = (n) => "apiVersion: v1\\nkind: Config\\nclusters: [{name: " + n + ", cluster: {server: https://" + n + ":6443}}]\\ncontexts: [{name: " + n + ", context: {cluster: " + n + ", user: " + n + "}}]\\ncurrent-context: " + n + "\\nusers: [{name: " + n + ", user: {token: t}}]\\n";
const clusters = ["east", "west"].map((n) => new lib.Cluster(n, { clusterName: n, network: "net-" + n, kubeconfig: kubeconfig(n) }));
const mesh = new lib.Mesh("consumer-mesh", { meshId: "m", istioVersion: lib.DEFAULT_ISTIO_VERSION, clusters });
mesh.rootCertPem.apply(async () => {
    await pulumi.runtime.waitForRPCs?.();
    setTimeout(() => console.log(JSON.stringify({ exports: Object.keys(lib).sort(), types: seen })), 200);
});
`,
        );
    }, 120000);
    afterAll(() => fs.rmSync(consumer, { recursive: true, force: true }));

    test("resolves the package through its exports and builds a mesh from it", () => {
        const out = execFileSync(process.execPath, ["program.js"], { cwd: consumer, stdio: "pipe" }).toString().trim().split("\n").pop()!;
        const { exports, types } = JSON.parse(out);
        for (const name of ["Cluster", "MeshCA", "IstioPrimary", "EastWestGateway", "RemoteSecret", "Mesh"]) expect(exports).toContain(name);
        // Two clusters on two networks: both east-west gateways and both remote secrets exist.
        expect(types.filter((t: string) => t === "istio-multicluster:index:EastWestGateway")).toHaveLength(2);
        expect(types.filter((t: string) => t === "istio-multicluster:index:RemoteSecret")).toHaveLength(2);
        expect(types.filter((t: string) => t === "kubernetes:helm.sh/v3:Release").length).toBeGreaterThanOrEqual(6);
    });

    test("the core entry loads no cloud SDK; the cloud entries bring their components", () => {
        const probe = `
const before = new Set(Object.keys(require.cache));
require("istio-multicluster");
const loaded = Object.keys(require.cache).filter((k) => !before.has(k));
const azure = require("istio-multicluster/azure");
const aws = require("istio-multicluster/aws");
console.log(JSON.stringify({
    cloudSdkInCore: loaded.some((k) => /@pulumi[\\/](azure-native|aws|eks)[\\/]/.test(k)),
    azure: Object.keys(azure).sort(),
    aws: Object.keys(aws).sort(),
}));
`;
        fs.writeFileSync(path.join(consumer, "probe.js"), probe);
        const result = JSON.parse(execFileSync(process.execPath, ["probe.js"], { cwd: consumer, stdio: "pipe" }).toString().trim().split("\n").pop()!);
        expect(result.cloudSdkInCore).toBe(false);
        expect(result.azure).toEqual(["AksCluster", "AzureNetwork"]);
        expect(result.aws).toEqual(["AwsLoadBalancerController", "AwsNetwork", "EksCluster"]);
    });

    test("ships type declarations", () => {
        expect(fs.readFileSync(path.join(installed, "dist/components/index.d.ts"), "utf8")).toMatch(/Mesh/);
        expect(fs.existsSync(path.join(installed, "dist/components/core/mesh.d.ts"))).toBe(true);
    });
});
