/** The README's architecture diagrams are generated from the stack files, and must not go stale. */
import * as fs from "fs";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { diagram, render, topology } = require("../../scripts/diagram.js");

test("the committed README diagrams match the stack topologies (run `npm run diagram` when this fails)", () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");
    expect(render(readme)).toBe(readme);
});

test("two networks draw east-west gateways; one network draws none; every ordered pair gets a remote secret", () => {
    const two = diagram({ platform: "azure", meshId: "m", clusters: [{ name: "a", network: "n1" }, { name: "b", network: "n2" }] });
    expect(two).toMatch(/a_ew\["east-west gateway :15443"\]/);
    expect(two).toMatch(/b_istiod -\. "istio-remote-secret-a" \.-> a/);
    expect(two).toMatch(/a_istiod -\. "istio-remote-secret-b" \.-> b/);
    const one = diagram({ platform: "aws", meshId: "m", clusters: [{ name: "a", network: "n1" }, { name: "b", network: "n1" }, { name: "c", network: "n1" }] });
    expect(one).not.toMatch(/east-west/);
    expect(one.match(/istio-remote-secret-/g)).toHaveLength(6);
});

test("the stack files are what the diagrams are drawn from", () => {
    expect(topology("azure").clusters.map((c: { network: string }) => c.network)).toEqual(["network1", "network2"]);
    expect(new Set(topology("aws").clusters.map((c: { network: string }) => c.network)).size).toBe(1);
});
