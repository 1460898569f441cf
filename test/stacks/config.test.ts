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
import { z } from "zod";
import { closest, rawSettings } from "../../stacks/config";
import { existingSettingsSchema } from "../../stacks/existing";
import { azureSettingsSchema } from "../../stacks/azure";
import { awsSettingsSchema } from "../../stacks/aws";

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

describe("one run reports every problem, and helps with the common mistakes", () => {
    const lines = (message: string) => message.split("\n").filter((l) => l.startsWith("  - "));

    test("problems found by every stage of the checks come in one run", async () => {
        // Each of these used to stop the checks at its own stage: cross settings, schema, revisions, chart source,
        // samples, and a kubeconfig that cannot be read.
        const msg = await failure({
            platform: "existing",
            meshId: "mesh1",
            istioChartSource: "/nonexistent/istio-charts",
            stritMtls: "true",
            defaultRevision: "stable",
            ca: { intermediateGenerations: { cluster9: 2 } },
            samples: { bookinfo: { frontCluster: "clusterx" } },
            clusters: [cluster("cluster1"), { name: "cluster2", network: "network1", kubeconfigPath: "/nonexistent/kubeconfig" }],
        });
        expect(msg).toMatch(/istio-multicluster:ca\.intermediateGenerations\.cluster9: no cluster is named "cluster9"/);
        expect(msg).toMatch(/istio-multicluster:stritMtls: unknown setting; did you mean "strictMtls"\?/);
        expect(msg).toMatch(/istio-multicluster:defaultRevision: needs istio-multicluster:revisions/);
        expect(msg).toMatch(/istio-multicluster:istioChartSource: .*\/nonexistent\/istio-charts/);
        expect(msg).toMatch(/istio-multicluster:samples\.bookinfo\.frontCluster: "clusterx" is not a cluster of this stack/);
        expect(msg).toMatch(/istio-multicluster:clusters\[1\]\.kubeconfigPath: cannot read "\/nonexistent\/kubeconfig"/);
        // The chart directory lacks three charts: a line each.
        expect(lines(msg)).toHaveLength(8);
    });

    test("an unknown platform does not hide the problems of the settings every platform has", async () => {
        const msg = await failure(existingStack(TWO_CLUSTERS_ONE_NETWORK, { platform: "gcp", meshId: "", istioVersion: "1.29.0" }));
        expect(msg).toMatch(/istio-multicluster:platform: must be one of existing, azure, aws; got "gcp"/);
        expect(msg).toMatch(/istio-multicluster:meshId: must not be empty/);
        expect(msg).toMatch(/istio-multicluster:istioVersion: Istio 1\.29\.0 is not supported/);
    });

    test("a path set without --path is named as such, with the command that sets it", async () => {
        const { clusters: _c, ...rest } = existingStack(TWO_CLUSTERS_ONE_NETWORK);
        const msg = await failure({ ...rest, clusters: [cluster("cluster1")], "clusters[0].network": "network2", "ca.validityHours": "48" });
        expect(msg).toContain(
            "istio-multicluster:clusters[0].network: set without --path, so Pulumi stored one setting named \"clusters[0].network\" instead of a value inside istio-multicluster:clusters. " +
                "Set it with `pulumi config set --path 'clusters[0].network' <value>` and remove the flat key with `pulumi config rm 'clusters[0].network'`",
        );
        expect(msg).toMatch(/istio-multicluster:ca\.validityHours: set without --path.*`pulumi config set --path 'ca\.validityHours' <value>`/);
        expect(msg).not.toMatch(/unknown setting/);
    });

    test("cloud settings on the default platform: one problem asking whether the platform should be azure", async () => {
        const msg = await failure({
            meshId: "mesh1",
            azure: { vnetCidr: "10.1.0.0/16" },
            clusters: [
                { name: "cluster1", network: "network1", kubeconfig: kubeconfigFor("cluster1"), subnetCidr: "10.1.1.0/24", podCidr: "10.244.0.0/16", nodeCount: 3, kubernetesVersion: "1.35" },
            ],
        });
        expect(lines(msg)).toEqual([
            "  - istio-multicluster:platform: is not set, so it is existing (clusters you already have), but istio-multicluster:azure, istio-multicluster:clusters[0].subnetCidr, " +
                "istio-multicluster:clusters[0].podCidr, istio-multicluster:clusters[0].nodeCount, istio-multicluster:clusters[0].kubernetesVersion are settings of platform azure; " +
                "did you mean `platform: azure`? Set it with `pulumi config set platform azure`",
        ]);
    });

    test("… or aws; a real typo next to them is still reported as one", async () => {
        const msg = await failure(
            existingStack(TWO_CLUSTERS_ONE_NETWORK, {
                aws: { vpcCidr: "10.0.0.0/16" },
                clusters: [{ name: "cluster1", network: "network1", kubeconfig: kubeconfigFor("cluster1"), instanceTypes: ["m5.large"], publicAccessCidrs: ["203.0.113.0/24"], netwrok: "x" }],
            }),
        );
        expect(msg).toMatch(/istio-multicluster:platform: is existing \(clusters you already have\), but istio-multicluster:aws, .*publicAccessCidrs are settings of platform aws; did you mean `platform: aws`\?/);
        expect(msg).toMatch(/istio-multicluster:clusters\[0\]\.netwrok: unknown setting; did you mean "network"\?/);
        expect(lines(msg)).toHaveLength(2);
    });

    test("an unknown setting with no near name: a sentence, then what is allowed", async () => {
        const msg = await failure(existingStack(TWO_CLUSTERS_ONE_NETWORK, { zzzzzzzz: "1" }));
        expect(msg).toMatch(/istio-multicluster:zzzzzzzz: unknown setting\. Allowed here: platform, meshId, /);
    });

    test("ca.earlyRenewalHours is checked against the default validity too", async () => {
        const msg = await failure(existingStack(TWO_CLUSTERS_ONE_NETWORK, { ca: { earlyRenewalHours: 87600 } }));
        expect(msg).toMatch(/istio-multicluster:ca\.earlyRenewalHours: 87600 is not below istio-multicluster:ca\.validityHours \(87600, the default\): every up would re-issue/);
        await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { ca: { earlyRenewalHours: 720 } }));
    });
});

/** Every number and boolean setting in a schema, with the schema that reads it (wrappers included). */
function scalarSettings(schema: z.ZodType, path: string): { path: string; kind: "number" | "boolean"; schema: z.ZodType }[] {
    const def = (schema as any)._zod.def;
    const kindOf = (s: any): "number" | "boolean" | undefined => (["number", "boolean"].includes(s._zod.def.type) ? s._zod.def.type : undefined);
    switch (def.type) {
        case "optional":
        case "default":
        case "prefault":
        case "nullable": {
            const inner = scalarSettings(def.innerType, path);
            // The wrapper reads the value: keep it, so that a default does not hide what the inner schema refuses.
            return inner.length === 1 && inner[0].path === path ? [{ ...inner[0], schema }] : inner;
        }
        case "pipe": {
            const kind = kindOf(def.out);
            if (kind && def.in._zod.def.type !== "number" && def.in._zod.def.type !== "boolean") return [{ path, kind, schema }];
            return scalarSettings(def.in, path);
        }
        case "object":
            return Object.entries(def.shape).flatMap(([k, v]) => scalarSettings(v as z.ZodType, path ? `${path}.${k}` : k));
        case "array":
            return scalarSettings(def.element, `${path}[0]`);
        case "record":
            return scalarSettings(def.valueType, `${path}.<key>`);
        case "union":
            return def.options.flatMap((o: z.ZodType) => scalarSettings(o, path));
        case "number":
        case "boolean":
            return [{ path, kind: def.type, schema }];
        default:
            return [];
    }
}

test("every number and boolean setting of every platform takes its value as text too (\"3\", \"true\"), or none would", () => {
    const refused: string[] = [];
    let checked = 0;
    for (const [platform, schema] of [["existing", existingSettingsSchema], ["azure", azureSettingsSchema], ["aws", awsSettingsSchema]] as const) {
        for (const setting of scalarSettings(schema, "")) {
            const values = setting.kind === "boolean" ? [true, false] : [1, 2, 3, 24, 48, 720, 31443];
            const value = values.find((v) => setting.schema.safeParse(v).success);
            expect({ setting: setting.path, value }).toEqual({ setting: setting.path, value: expect.anything() });
            checked++;
            const asText = setting.schema.safeParse(String(value));
            if (!asText.success || asText.data !== setting.schema.parse(value)) refused.push(`${platform}: ${setting.path} refuses "${value}"`);
        }
    }
    expect(refused).toEqual([]);
    // The walk does find them: counts, node counts, CA hours and generations, sample timings, flags.
    expect(checked).toBeGreaterThan(30);
});
