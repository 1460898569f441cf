/**
 * A Helm release left `failed` (an install or upgrade interrupted by Ctrl-C of `pulumi up`, or failed) fails every
 * run, naming the release, its cluster and the command that repairs it (components/common/helmReleaseStatus.ts).
 * Found by test/e2e/faults.e2e.ts: with the refresh before every run, the `up` after a Ctrl-C during istiod's install
 * saw no change and left the release `failed` for good, silently.
 */
import * as pulumi from "@pulumi/pulumi";
import { ofType, runProgram } from "../support/harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS } from "../support/fixtures";
import { releaseProblem } from "../../components/common/helmReleaseStatus";
import { istioChart } from "../../components/common/istioVersion";

const RELEASE = "kubernetes:helm.sh/v3:Release";

describe("releaseProblem", () => {
    const istiod = { clusterName: "cluster2", name: "istiod", namespace: "istio-system", revision: 1, chart: "istiod", repo: "https://istio-release.storage.googleapis.com/charts", version: "1.31.1" };

    test("a deployed release, or one whose status is not known yet (a preview of its create), is fine", () => {
        expect(releaseProblem({ ...istiod, status: "deployed" })).toBeUndefined();
        expect(releaseProblem({ ...istiod, status: undefined })).toBeUndefined();
    });

    test("failed: names the release, its cluster and revision, and gives the helm upgrade that repairs it in place", () => {
        expect(releaseProblem({ ...istiod, status: "failed" })).toBe(
            "Helm release istio-system/istiod in cluster cluster2 is failed (revision 1): its install or upgrade was interrupted or failed, " +
                "and pulumi up does not retry it once a refresh has read it back. Upgrade it in place with the values it was given, using that " +
                "cluster's kubeconfig, then run pulumi up again: helm upgrade istiod istiod --repo https://istio-release.storage.googleapis.com/charts " +
                "--version 1.31.1 --namespace istio-system --reuse-values",
        );
    });

    test("a chart from a directory or an OCI registry is named as given, without --repo", () => {
        expect(releaseProblem({ ...istiod, status: "failed", repo: undefined, chart: "/charts/1.31.1/istiod" })).toContain("helm upgrade istiod /charts/1.31.1/istiod --version 1.31.1 --namespace istio-system --reuse-values");
        expect(releaseProblem({ ...istiod, status: "failed", repo: undefined, chart: "oci://registry.example/istio/istiod" })).toContain("helm upgrade istiod oci://registry.example/istio/istiod --version 1.31.1");
    });

    test("pending: an operation under way or killed; no command that would race it", () => {
        const problem = releaseProblem({ ...istiod, status: "pending-upgrade" });
        expect(problem).toContain("Helm release istio-system/istiod in cluster cluster2 is pending-upgrade (revision 1): a Helm operation on it is under way or was killed");
        expect(problem).not.toContain("helm upgrade");
    });
});

describe("every Helm release the program declares is checked", () => {
    let errors: jest.SpyInstance;
    beforeEach(() => (errors = jest.spyOn(pulumi.log, "error").mockImplementation(async () => undefined)));
    afterEach(() => errors.mockRestore());

    const statusOf = (status: (name: string) => string) => ({
        [RELEASE]: (inputs: any, name: string) => ({
            status: { name: inputs.name, namespace: inputs.namespace, chart: inputs.chart, version: inputs.version, status: status(name), revision: 1 },
        }),
    });

    test("all deployed: no error", async () => {
        const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS), { outputs: statusOf(() => "deployed") });
        expect(ofType(run.resources, RELEASE).length).toBeGreaterThanOrEqual(8);
        expect(errors).not.toHaveBeenCalled();
    });

    test("one failed: one error, on that release, naming it and its cluster", async () => {
        await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS), { outputs: statusOf((name) => (name === "mesh-cluster2-istiod" ? "failed" : "deployed")) });
        expect(errors).toHaveBeenCalledTimes(1);
        const [message, resource] = errors.mock.calls[0];
        expect(message).toContain("Helm release istio-system/istiod in cluster cluster2 is failed (revision 1)");
        expect(message).toContain(`helm upgrade istiod istiod --repo ${istioChart("istiod", "1.31.1").repositoryOpts!.repo} --version`);
        expect(await new Promise((resolve) => (resource as pulumi.Resource).urn.apply(resolve))).toMatch(/::mesh-cluster2-istiod$/);
    });

    test("all failed: istio-base, istiod, the east-west gateways and the Bookinfo ingress gateway, each named", async () => {
        const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS), { outputs: statusOf(() => "failed") });
        const releases = ofType(run.resources, RELEASE);
        expect(errors).toHaveBeenCalledTimes(releases.length);
        const named = errors.mock.calls.map(([m]) => /^Helm release (\S+) in cluster (\S+) is failed/.exec(m)!.slice(1).join(" ")).sort();
        expect(named).toEqual(releases.map((r) => `${r.inputs.namespace}/${r.inputs.name} ${/^(?:mesh|samples)-(cluster\d)/.exec(r.name)![1]}`).sort());
    });
});
