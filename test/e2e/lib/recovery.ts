/**
 * The recovery a user makes after a `pulumi up` was killed (SIGKILL: the machine, the CI job or the OOM killer), as
 * measured on the bed (docs/operations.md "When a run fails"), step by step, each step named as the user types it:
 *
 * 1. `pulumi cancel`: the local backend keeps the killed run's lock file, and every later command on the stack is
 *    refused ("the stack is currently locked by 1 lock(s)") until it is deleted.
 * 2. Let the killed run's plugins finish: the CLI starts them in process groups of their own, so they outlive it and
 *    keep working (a Helm install runs to its end, and leaves the release `pending-install` if stopped half-way) until
 *    their health check of the dead engine fails, within 5 minutes. Wait until no Helm release is `pending-*`, then
 *    stop them.
 * 3. `pulumi refresh --clear-pending-creates`: the creates that were in flight stay "pending" in the state (every
 *    later `up` warns about them) until cleared. Clearing is right for plain Kubernetes objects: the next `up`
 *    applies them again (server-side apply creates or updates). `--import-pending-creates` would be the alternative
 *    for what did get created, but with the CLI 3.274.1 it drops the pending operation without importing anything.
 * 4. `helm uninstall` each Helm release the killed run was installing: it exists (the plugin finished it) but the
 *    state does not know it, and the next `up`'s install fails with "cannot re-use a name that is still in use".
 *    Only releases that were pending creates: nothing the state knows is removed.
 * 5. `pulumi up`.
 *
 * Before all of it, if the kill cut off the local backend's write of the stack file's attribute sidecar
 * (`.pulumi/stacks/<project>/<stack>.json.attrs`, left empty), every command fails "failed to load checkpoint: EOF"
 * although the state itself is whole: the empty sidecar is deleted (repairStateAttributes; seen once in CI).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { BedCluster, cacheDir } from "./bed";
import { Interruption, PendingOperation, killPids, pendingOperations } from "./interrupt";
import { Kube, eventually } from "./kube";
import { helmReleaseRecords } from "./meshChecks";
import { clusterOfProvider } from "./accounting";
import { errorOf } from "./stack";

const MIN = 60_000;

export interface KilledRunRecovery {
    /** The steps as run, one line each. */
    steps: string[];
    /** Pending operations the killed run left. */
    pending: PendingOperation[];
    /** Helm releases uninstalled in step 4, "<cluster> <namespace>/<name>". */
    uninstalled: string[];
    /** The final `up`'s error, if it failed. */
    upError?: Error;
}

/** The Helm release (namespace/name) and cluster a pending create of a `kubernetes:helm.sh/v3:Release` is for. */
function pendingRelease(op: any): { cluster?: string; namespace: string; name: string } | undefined {
    if (op.resource?.type !== "kubernetes:helm.sh/v3:Release") return undefined;
    const inputs = op.resource.inputs ?? {};
    return { cluster: clusterOfProvider(op.resource.provider), namespace: inputs.namespace, name: inputs.name };
}

/**
 * Deletes the stack file's attribute sidecar if a killed write left it empty (the file-backend blob store keeps
 * `<stack>.json.attrs` beside `<stack>.json`; empty, every command fails "failed to load checkpoint: EOF"). Returns the
 * step as the user types it, or undefined when there was nothing to repair.
 */
export function repairStateAttributes(stateDir: string, stackName: string): string | undefined {
    const root = path.join(stateDir, ".pulumi", "stacks");
    if (!fs.existsSync(root)) return undefined;
    const cut = (fs.readdirSync(root, { recursive: true }) as string[])
        .filter((f) => path.basename(f) === `${stackName}.json.attrs`)
        .map((f) => path.join(root, f))
        .filter((f) => fs.statSync(f).size === 0);
    for (const f of cut) fs.rmSync(f);
    return cut.length ? `rm ${cut.map((f) => `.pulumi/stacks/${path.relative(root, f)}`).join(" ")} (left empty by the kill: "failed to load checkpoint: EOF")` : undefined;
}

export async function recoverKilledRun(o: {
    stack: Stack;
    /** The local backend's directory (PULUMI_BACKEND_URL file://). */
    stateDir: string;
    interruption: Interruption;
    kube: Record<string, Kube>;
    clusters: BedCluster[];
    log: (msg: string) => void;
}): Promise<KilledRunRecovery> {
    const steps: string[] = [];
    const repaired = repairStateAttributes(o.stateDir, o.stack.name);
    if (repaired) steps.push(repaired);
    const pending = await pendingOperations(o.stack);
    const releases = (((await o.stack.exportStack()).deployment.pending_operations ?? []) as any[]).map(pendingRelease).filter((r) => r !== undefined);

    await o.stack.cancel();
    steps.push("pulumi cancel (removes the killed run's lock)");

    const nonePending = async () => {
        for (const k of Object.values(o.kube)) {
            if ((await helmReleaseRecords(k, "")).some((r) => r.status.startsWith("pending"))) return false;
        }
        return true;
    };
    await eventually("no Helm release pending-* (the killed run's plugins finish what they started)", nonePending, 5 * MIN, 1000);
    await killPids(o.interruption.orphans.map((p) => p.pid));
    steps.push(`wait until no Helm release is pending-*, then stop the killed run's plugins (${o.interruption.orphans.length} left)`);

    await o.stack.refresh({ clearPendingCreates: true, color: "never" });
    steps.push(`pulumi refresh --clear-pending-creates (${pending.length} pending: ${pending.map((p) => `${p.type} ${p.urn.split("::").pop()}`).join(", ") || "none"})`);

    const uninstalled: string[] = [];
    const helm = path.join(cacheDir(), "bin", "helm");
    for (const r of releases) {
        const k = r.cluster ? o.kube[r.cluster] : undefined;
        if (!k || !(await helmReleaseRecords(k, r.namespace)).some((x) => x.name === r.name)) continue;
        const kubeconfig = o.clusters.find((c) => c.name === r.cluster)!.kubeconfigPath;
        const out = spawnSync(helm, ["uninstall", r.name, "--namespace", r.namespace, "--kubeconfig", kubeconfig, "--wait"], { encoding: "utf8" });
        if (out.status !== 0) throw new Error(`helm uninstall ${r.name} in ${r.cluster}: ${out.stderr}`);
        uninstalled.push(`${r.cluster} ${r.namespace}/${r.name}`);
    }
    if (uninstalled.length) steps.push(`helm uninstall the releases the killed run installed: ${uninstalled.join(", ")}`);

    const upError = await errorOf(o.stack.up({ color: "never" }));
    steps.push("pulumi up");
    o.log(`recovery: ${steps.join(" → ")}${upError ? `; up failed: ${upError.message.slice(-600)}` : ""}`);
    return { steps, pending, uninstalled, upError };
}
