/**
 * An existing-clusters stack loads no cloud SDK: every module of @pulumi/azure-native, @pulumi/aws and @pulumi/eks the
 * program imports is replaced here by one that fails when loaded, and the existing stack still runs. The azure stack,
 * which needs them, trips the same guard, so the guard works. (The time this saves: docs/architecture.md.)
 */
import * as fs from "fs";
import * as path from "path";
import { runProgram } from "../support/harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";
import { loadStackConfig } from "../support/stackConfig";

// Factories must be written out: jest hoists these calls above everything else in the file.
jest.mock("@pulumi/aws/ec2", () => {
    throw new Error("loaded @pulumi/aws/ec2");
});
jest.mock("@pulumi/aws/eks", () => {
    throw new Error("loaded @pulumi/aws/eks");
});
jest.mock("@pulumi/aws/getAvailabilityZones", () => {
    throw new Error("loaded @pulumi/aws/getAvailabilityZones");
});
jest.mock("@pulumi/aws/getPartition", () => {
    throw new Error("loaded @pulumi/aws/getPartition");
});
jest.mock("@pulumi/aws/getRegion", () => {
    throw new Error("loaded @pulumi/aws/getRegion");
});
jest.mock("@pulumi/aws/iam", () => {
    throw new Error("loaded @pulumi/aws/iam");
});
jest.mock("@pulumi/aws/vpc", () => {
    throw new Error("loaded @pulumi/aws/vpc");
});
jest.mock("@pulumi/azure-native/authorization", () => {
    throw new Error("loaded @pulumi/azure-native/authorization");
});
jest.mock("@pulumi/azure-native/containerregistry", () => {
    throw new Error("loaded @pulumi/azure-native/containerregistry");
});
jest.mock("@pulumi/azure-native/containerservice", () => {
    throw new Error("loaded @pulumi/azure-native/containerservice");
});
jest.mock("@pulumi/azure-native/network", () => {
    throw new Error("loaded @pulumi/azure-native/network");
});
jest.mock("@pulumi/azure-native/resources", () => {
    throw new Error("loaded @pulumi/azure-native/resources");
});
jest.mock("@pulumi/eks", () => {
    throw new Error("loaded @pulumi/eks");
});
const GUARDED = [
    "@pulumi/aws/ec2", "@pulumi/aws/eks", "@pulumi/aws/getAvailabilityZones", "@pulumi/aws/getPartition", "@pulumi/aws/getRegion", "@pulumi/aws/iam",
    "@pulumi/aws/vpc", "@pulumi/azure-native/authorization", "@pulumi/azure-native/containerregistry", "@pulumi/azure-native/containerservice",
    "@pulumi/azure-native/network", "@pulumi/azure-native/resources", "@pulumi/eks",
];

test("every cloud module the program imports is guarded here", () => {
    const root = path.join(__dirname, "..", "..");
    const sources = ["index.ts", ...["stacks", "components"].flatMap((d) => fs.readdirSync(path.join(root, d), { recursive: true, encoding: "utf8" }).map((f) => path.join(d, f)))].filter((f) => f.endsWith(".ts"));
    const imported = new Set(sources.flatMap((f) => [...fs.readFileSync(path.join(root, f), "utf8").matchAll(/from "(@pulumi\/(?:aws|azure-native|eks)[^"]*)"/g)].map((m) => m[1])));
    expect([...imported].sort()).toEqual([...GUARDED].sort());
});

test("an existing-clusters stack runs without loading @pulumi/azure-native, @pulumi/aws or @pulumi/eks", async () => {
    const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
    expect(run.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release").length).toBeGreaterThan(6);
});

test("the azure stack trips the guard (it needs its SDK)", async () => {
    await expect(runProgram(loadStackConfig("azure", { "azure-native:location": "eastus" }))).rejects.toThrow(/loaded @pulumi\/azure-native/);
});
