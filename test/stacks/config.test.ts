/**
 * Bad input fails the program before anything is declared, with a message naming the setting and what is
 * allowed.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { plain, runProgramExpectingError, runProgram } from "../support/harness";
import { existingStack, kubeconfigFor, TWO_CLUSTERS_ONE_NETWORK } from "../support/fixtures";
import { closest, rawSettings } from "../../stacks/config";

/** Runs the program with `config` and returns its error message, checking that nothing was declared. */
async function failure(config: Record<string, unknown>): Promise<string> {
    const { error, resources } = await runProgramExpectingError(config);
    expect(resources.filter((r) => r.custom)).toEqual([]);
    return error.message;
}

const cluster = (name: string, network = "network1", extra: Record<string, unknown> = {}) => ({ name, network, kubeconfig: kubeconfigFor(name), ...extra });

describe("bad input", () => {
    test("missing mesh ID", async () => {
        const { meshId: _omit, ...config } = existingStack(TWO_CLUSTERS_ONE_NETWORK);
        expect(await failure(config)).toMatch(/istio-multicluster:meshId: is required: the mesh ID shared by every cluster/);
    });

    test("empty mesh ID", async () => {
        expect(await failure(existingStack(TWO_CLUSTERS_ONE_NETWORK, { meshId: "" }))).toMatch(/istio-multicluster:meshId: must not be empty/);
    });

    test("cluster name that is not a DNS-1123 label", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [cluster("Cluster_1")] });
        expect(msg).toMatch(/istio-multicluster:clusters\[0\]\.name: must be a DNS-1123 label: lowercase letters, digits and '-'/);
    });

    test("cluster name longer than 63 characters", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [cluster("a".repeat(64))] });
        expect(msg).toMatch(/clusters\[0\]\.name: must be at most 63 characters/);
    });

    test("cluster name used twice", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [cluster("c1"), cluster("c1", "network2")] });
        expect(msg).toMatch(/istio-multicluster:clusters: cluster name "c1" is used more than once/);
    });

    test("cluster name used twice is reported together with the other entries' problems", async () => {
        // A wrong type in an entry used to stop the list's own checks (zod skips refinements after such issues).
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [cluster("c1"), cluster("c1", "network1", { network: 5 }), cluster("c3", "network1", { kubeconfigContext: "" })] });
        expect(msg).toMatch(/clusters\[1\]\.network/);
        expect(msg).toMatch(/clusters\[2\]\.kubeconfigContext/);
        expect(msg).toMatch(/istio-multicluster:clusters: cluster name "c1" is used more than once/);
    });

    test("network name that is not a valid label value", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [cluster("c1", "net work!")] });
        expect(msg).toMatch(/clusters\[0\]\.network: must be a Kubernetes label value/);
    });

    test("empty cluster list", async () => {
        expect(await failure({ platform: "existing", meshId: "mesh1", clusters: [] })).toMatch(/istio-multicluster:clusters: must list at least one cluster/);
    });

    test("missing cluster list", async () => {
        expect(await failure({ platform: "existing", meshId: "mesh1" })).toMatch(/istio-multicluster:clusters: must be a list of clusters/);
    });

    test.each([
        ["1.30", /must be an exact version "x.y.z"/],
        ["latest", /must be an exact version "x.y.z"/],
        ["1.29.6", /Istio 1\.29\.6 is not supported: use 1\.30\.x and 1\.31\.x \(older minors are end of life\)/],
        ["1.19.1", /Istio 1\.19\.1 is not supported: use 1\.30\.x and 1\.31\.x/],
        // A minor this program has not checked the charts of.
        ["1.32.0", /Istio 1\.32\.0 is not supported: use 1\.30\.x and 1\.31\.x/],
    ])("Istio version %s", async (version, message) => {
        const msg = await failure(existingStack(TWO_CLUSTERS_ONE_NETWORK, { istioVersion: version }));
        expect(msg).toMatch(/istio-multicluster:istioVersion: /);
        expect(msg).toMatch(message);
    });

    test("a typo in a cluster setting is not ignored, and the closest name is suggested", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [{ name: "c1", netwrok: "network1", kubeconfig: kubeconfigFor("c1") }] });
        expect(msg).toMatch(/istio-multicluster:clusters\[0\]\.netwrok: unknown setting; did you mean "network"\?/);
        // The misspelt key also leaves the real one missing.
        expect(msg).toMatch(/clusters\[0\]\.network: must be a string/);
    });

    test("a typo in a top-level setting is not ignored either", async () => {
        const msg = await failure(existingStack(TWO_CLUSTERS_ONE_NETWORK, { meshID: "mesh1" }));
        expect(msg).toMatch(/istio-multicluster:meshID: unknown setting; did you mean "meshId"\?/);
    });

    test("a value of the wrong type", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: { name: "c1" } });
        expect(msg).toMatch(/istio-multicluster:clusters: must be a list of clusters/);
        const msg2 = await failure({ platform: "existing", meshId: "mesh1", clusters: [{ name: 7, network: "n", kubeconfig: "x" }] });
        expect(msg2).toMatch(/clusters\[0\]\.name: must be a string/);
    });

    test("unknown platform", async () => {
        expect(await failure(existingStack(TWO_CLUSTERS_ONE_NETWORK, { platform: "gcp" }))).toMatch(/istio-multicluster:platform: must be one of existing, azure, aws; got "gcp"/);
    });

    test("unknown east-west load balancer flavour", async () => {
        expect(await failure(existingStack(TWO_CLUSTERS_ONE_NETWORK, { eastWestLoadBalancer: "private" }))).toMatch(/istio-multicluster:eastWestLoadBalancer: must be internal or public/);
    });

    test("all problems are reported at once", async () => {
        const msg = await failure({ platform: "existing", meshId: "", istioVersion: "2", clusters: [cluster("A")] });
        expect(msg.split("\n").filter((l) => l.startsWith("  - "))).toHaveLength(3);
    });

    test("a kubeconfig path that does not exist", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [{ name: "c1", network: "n1", kubeconfigPath: "/nonexistent/kubeconfig" }] });
        expect(msg).toMatch(/istio-multicluster:clusters\[0\]\.kubeconfigPath: cannot read "\/nonexistent\/kubeconfig"/);
    });

    test("a context the kubeconfig does not have", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [cluster("c1", "n1", { kubeconfigContext: "nope" })] });
        expect(msg).toMatch(/clusters\[0\]\.kubeconfigContext: not a usable kubeconfig \(kubeconfig has no context "nope" \(it has "c1"\)\)/);
    });

    test("both or neither of kubeconfig and kubeconfigPath", async () => {
        const neither = await failure({ platform: "existing", meshId: "mesh1", clusters: [{ name: "c1", network: "n1" }] });
        expect(neither).toMatch(/clusters\[0\]: set exactly one of kubeconfigPath and kubeconfig/);
        const both = await failure({ platform: "existing", meshId: "mesh1", clusters: [cluster("c1", "n1", { kubeconfigPath: "/tmp/x" })] });
        expect(both).toMatch(/clusters\[0\]: set exactly one of kubeconfigPath and kubeconfig/);
    });

    test("an API server URL that is not https", async () => {
        const msg = await failure({ platform: "existing", meshId: "mesh1", clusters: [cluster("c1", "n1", { apiServerUrl: "http://c1:6443" })] });
        expect(msg).toMatch(/clusters\[0\]\.apiServerUrl: must be an https:\/\/ URL/);
    });
});

describe("good input", () => {
    test("a kubeconfig file with a context, and an API server URL override for the other clusters", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kc-"));
        const file = path.join(dir, "config");
        fs.writeFileSync(file, kubeconfigFor("kind-c1", "https://127.0.0.1:6443"));
        try {
            const run = await runProgram({
                platform: "existing",
                meshId: "mesh1",
                clusters: [
                    { name: "c1", network: "n1", kubeconfigPath: file, kubeconfigContext: "kind-c1", apiServerUrl: "https://c1-control-plane:6443" },
                    cluster("c2", "n1"),
                ],
            });
            expect(run.outputs.apiServerUrls).toEqual({ c1: "https://c1-control-plane:6443", c2: "https://c2.example.internal:6443" });
            const provider = run.resources.find((r) => r.name === "c1-k8s")!;
            // Only that context is kept, and it is the current one: the provider needs no context of its own.
            expect(parse(plain(provider.inputs.kubeconfig))["current-context"]).toBe("kind-c1");
            expect(provider.inputs.context).toBeUndefined();
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("defaults: platform existing, Istio 1.31.1", async () => {
        const { platform: _p, ...config } = existingStack(TWO_CLUSTERS_ONE_NETWORK);
        const run = await runProgram(config);
        const istiod = run.resources.find((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "istiod")!;
        expect(istiod.inputs.version).toBe("1.31.1");
    });

    test("1.30.x is still supported", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { istioVersion: "1.30.5" }));
        const istiod = run.resources.find((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "istiod")!;
        expect(istiod.inputs.version).toBe("1.30.5");
    });

    test("config of other namespaces is left alone; structured values arrive as JSON", () => {
        expect(rawSettings({ "aws:region": "eu-west-1", "istio-multicluster:meshId": "1", "istio-multicluster:clusters": '[{"name":"a"}]' })).toEqual({
            meshId: "1",
            clusters: [{ name: "a" }],
        });
    });

    test("suggestions only for near misses", () => {
        expect(closest("netwrok", ["name", "network", "kubeconfig"])).toBe("network");
        expect(closest("kubconfig", ["name", "network", "kubeconfig", "kubeconfigPath"])).toBe("kubeconfig");
        expect(closest("zzzzzz", ["name", "network"])).toBeUndefined();
    });
});
