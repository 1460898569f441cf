/**
 * index.ts is the program Pulumi runs. The other suites call what it calls, `stackOutputs(deploy(config))`, with the
 * modules of a test file loaded once (test/support/harness.ts); this file runs index.ts itself, imported afresh
 * under Pulumi's mocks as the language host would, and checks that both declare the same and export the same.
 */
import type * as pulumiType from "@pulumi/pulumi";
import { fullConfig, PROJECT, plain, runProgram } from "../support/harness";
import { MeshMocks } from "../support/mocks";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";

const config = existingStack(THREE_CLUSTERS_TWO_NETWORKS, { samples: { helloworld: { enabled: true }, bookinfo: { enabled: true } } });

async function runIndexItself(): Promise<{ declared: string[]; exported: Record<string, unknown> }> {
    jest.resetModules();
    const pulumi: typeof pulumiType = await import("@pulumi/pulumi");
    const mocks = new MeshMocks({});
    await pulumi.runtime.setMocks(mocks, PROJECT, "test", false);
    pulumi.runtime.setAllConfig(fullConfig(config), []);
    // What the Node.js language host does: require the program; module.exports are the stack outputs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../../index");
    const exported: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(program)) {
        const output = pulumi.output(value as any) as pulumiType.Output<unknown>;
        exported[key] = await new Promise((resolve) => output.apply(resolve));
    }
    await (pulumi.runtime as any).waitForRPCs();
    return { declared: mocks.seen.map((s) => `${s.type}::${s.name}`).sort(), exported };
}

test("index.ts declares and exports exactly what stackOutputs(deploy(config)) does", async () => {
    const viaHarness = await runProgram(config);
    const itself = await runIndexItself();
    expect(itself.declared).toEqual(viaHarness.mocks.seen.map((s) => `${s.type}::${s.name}`).sort());
    expect(itself.declared.length).toBeGreaterThan(100);
    expect(Object.keys(itself.exported).sort()).toEqual(Object.keys(viaHarness.outputs).sort());
    expect(Object.keys(itself.exported).sort()).toEqual(
        ["apiServerUrls", "caValidityDays", "clusterNames", "eastWestGatewayAddresses", "kubeconfigs", "platform", "rootCertPem", "samples", "trustRotation"].sort(),
    );
    expect(itself.exported.clusterNames).toEqual(["cluster1", "cluster2", "cluster3"]);
    expect(itself.exported.apiServerUrls).toEqual(plain(viaHarness.outputs.apiServerUrls));
});
