/** Pulumi.yaml's declared config stays in step with the program's validation. */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { commonSettings } from "../../stacks/config";

const project = parse(fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.yaml"), "utf8"));

test("project name and runtime", () => {
    expect(project.name).toBe("istio-multicluster");
    expect(project.runtime.name).toBe("nodejs");
    expect(project.backend).toEqual({ url: "file://~" });
    // package.json's main is the library; the program is named here.
    expect(project.main).toBe("index.ts");
    expect(fs.existsSync(path.join(__dirname, "..", "..", project.main))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")).name).toBe("istio-multicluster");
});

test("every declared setting has a description and a type Pulumi accepts, and its default is the program's", () => {
    const declared = Object.entries(project.config as Record<string, any>);
    expect(declared.map(([k]) => k).sort()).toEqual(["eastWestLoadBalancer", "istioChartSource", "istioImageHub", "istioVersion", "platform"]);
    for (const [key, decl] of declared) {
        expect(["string", "integer", "boolean", "array"]).toContain(decl.type);
        expect(decl.description).toEqual(expect.any(String));
        const schema = (commonSettings as Record<string, any>)[key];
        expect(schema).toBeDefined();
        expect(schema.parse(undefined)).toBe(String(decl.default));
    }
});

test("no declared key is required: the CLI would refuse the stack before the program can say \"did you mean\"", () => {
    // A key without a default is required by the CLI itself ("missing required configuration"), checked before the
    // program runs: a misspelt `meshID` would never reach the program's suggestion of `meshId`.
    const required = Object.entries(project.config as Record<string, any>).filter(([, decl]) => !("default" in decl)).map(([key]) => key);
    expect(required).toEqual([]);
    // meshId is required all the same: by the program, which names it.
    expect(commonSettings.meshId.safeParse(undefined).success).toBe(false);
});

test("every preview, up and destroy refreshes first, so the next up puts right what was changed behind the program's back", () => {
    // Without it a remote secret deleted by hand stays deleted: the state still holds it and `up` has nothing to do
    // (measured on the real engine: test/e2e/dataplane.e2e.ts). The CLI reads this as its default for --refresh.
    expect(project.options).toEqual({ refresh: "always" });
});
