import { runProgram } from "./harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "./fixtures";

test("smoke", async () => {
    const { resources, outputs } = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    process.stdout.write(resources.map((r) => `${r.type} ${r.name} ${r.provider ? "P" : "-"} ${r.dependencies.length} ${r.read}`).join("\n") + "\n");
    process.stdout.write(JSON.stringify(outputs, null, 1).slice(0, 2500));
    expect(resources.length).toBeGreaterThan(10);
});
