import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

/** What the program knows of a Helm release after the engine read it: its live status and how it was installed. */
export interface ReleaseState {
    clusterName: string;
    name: string;
    namespace: string;
    /** Helm's status of the release's latest revision: deployed, failed, pending-install, … */
    status?: string;
    revision?: number;
    /** The chart as the Release was given it: a name with `repo`, an OCI reference or a directory. */
    chart: string;
    repo?: string;
    version?: string;
}

/**
 * What is wrong with a Helm release that is not `deployed`, or undefined. Helm marks a release `failed` when its
 * install or upgrade is interrupted (Ctrl-C of `pulumi up`) or fails. The kubernetes provider records that as the
 * resource's init error, so a `pulumi up` without refresh retries it; but its refresh (this project refreshes before
 * every operation) reads the release back without one (pulumi-kubernetes 4.25, helm_release.go Read), and every later
 * `up` then saw no change and left it failed, silently (measured on the bed: test/e2e/faults.e2e.ts).
 */
export function releaseProblem(r: ReleaseState): string | undefined {
    if (r.status === undefined || r.status === "deployed") return undefined;
    const where = `Helm release ${r.namespace}/${r.name} in cluster ${r.clusterName} is ${r.status}${r.revision !== undefined ? ` (revision ${r.revision})` : ""}`;
    if (r.status !== "failed") {
        return `${where}: a Helm operation on it is under way or was killed. See docs/operations.md ("When a run fails"); once no Helm operation runs on it, run pulumi up again.`;
    }
    const chart = [r.name, r.chart, ...(r.repo ? ["--repo", r.repo] : []), ...(r.version ? ["--version", r.version] : [])].join(" ");
    return (
        `${where}: its install or upgrade was interrupted or failed, and pulumi up does not retry it once a refresh has read it back. ` +
        `Upgrade it in place with the values it was given, using that cluster's kubeconfig, then run pulumi up again: ` +
        `helm upgrade ${chart} --namespace ${r.namespace} --reuse-values`
    );
}

/** Fails the run (an error on the release) while the release is not `deployed`; see releaseProblem. */
export function requireDeployed(release: k8s.helm.v3.Release, clusterName: pulumi.Input<string>): void {
    pulumi
        .all([release.status, release.name, release.namespace, release.chart, release.repositoryOpts, release.version, clusterName])
        .apply(([status, name, namespace, chart, repositoryOpts, version, cluster]) => {
            const problem = releaseProblem({
                clusterName: cluster,
                name: status?.name ?? name,
                namespace: status?.namespace ?? namespace,
                status: status?.status,
                revision: status?.revision,
                chart,
                repo: repositoryOpts?.repo,
                version: status?.version ?? version,
            });
            if (problem) pulumi.log.error(problem, release);
        });
}
