/**
 * "Converged, nothing lost": the checks the faults suite makes after every recovery, each returning what it found
 * rather than throwing, so that a row of the report is written whatever the outcome:
 *
 * - the state has no pending operation and the local backend no lock file;
 * - `preview` with `expectNoChanges` passes (the program and the state agree);
 * - every cluster's `cacerts` holds the state's root and that cluster's intermediate from the state, and the
 *   state's certificates are the ones from before the fault (or differ only as the change under way intends);
 * - every object is accounted for against the state (lib/accounting.ts): nothing lost, orphaned or held twice;
 * - every istiod lists every other cluster `synced` in /debug/clusterz.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { ObjectAccount, accountObjects, accountProblems } from "./accounting";
import { lockFiles, pendingOperations } from "./interrupt";
import { IstiodOperator } from "./istiod";
import { Kube, eventually } from "./kube";
import { clusterzSynced } from "./meshChecks";
import { StateTrust, clusterTrust, stateTrust, trustChanges, trustMismatches } from "./trust";
import { errorOf } from "./stack";

export interface ConvergenceContext {
    stack: Stack;
    stateDir: string;
    kube: Record<string, Kube>;
    istiod: Record<string, IstiodOperator>;
    /** Census of every cluster before the mesh (what the bed itself has). */
    baseline: Record<string, Set<string>>;
    others: (cluster: string) => string[];
    log: (msg: string) => void;
}

export interface Convergence {
    problems: string[];
    objectsLost: number;
    trust: StateTrust;
    /** Certificates that differ from `before` (lib/trust.ts trustChanges). */
    certificatesChanged: string[];
    account: Record<string, ObjectAccount>;
}

const MIN = 60_000;

/**
 * Every check above. `before`: the state's CA before the fault; `intended`: the certificate changes the change under
 * way makes by design (e.g. "intermediate cluster2 changed" when a cluster joins again), which are not problems;
 * certificates made for the first time ("… new") are none either.
 */
export async function checkConverged(c: ConvergenceContext, before: StateTrust | undefined, intended: string[] = []): Promise<Convergence> {
    const problems: string[] = [];
    const pending = await pendingOperations(c.stack);
    for (const op of pending) problems.push(`pending operation ${op.type} ${op.urn}`);
    for (const f of lockFiles(c.stateDir, c.stack.name)) problems.push(`lock file left: ${f}`);
    const seconds: Record<string, number> = {};
    const took = async <T>(label: string, f: () => Promise<T>): Promise<T> => {
        const t = Date.now();
        try {
            return await f();
        } finally {
            seconds[label] = Math.round((Date.now() - t) / 100) / 10;
        }
    };
    // The engine's preview, the API servers' census and the istiods' sync status are independent: all at once.
    const [preview, trustFound, account, syncFailures] = await Promise.all([
        took("preview", () =>
            errorOf(c.stack.preview({ expectNoChanges: true, color: "never" })),
        ),
        took("trust", async () => {
            const trust = await stateTrust(c.stack);
            return { trust, mismatches: trustMismatches(trust, await clusterTrust(c.kube)) };
        }),
        took("objects", () => accountObjects(c.stack, c.kube, c.baseline)),
        took("istiods synced", () =>
            Promise.all(
                Object.entries(c.istiod).map(([n, o]) =>
                    eventually(`${n} clusterz synced`, () => clusterzSynced(o, c.others(n)), 3 * MIN, 1000).then(
                        () => undefined,
                        (e: Error) => `${n}: istiod not synced with ${c.others(n).join(", ")}: ${e.message}`,
                    ),
                ),
            ),
        ),
    ]);
    // The lines that say what would change: not the refresh of every resource (Pulumi.yaml refreshes first) nor warnings.
    const proposed = (message: string) =>
        message
            .split("\n")
            .filter((l) => /^\s*[~+\-]|error|update|create|delete|replace/i.test(l) && !/ refresh(ing)?\b|warning:/.test(l))
            .slice(0, 20)
            .join(" / ");
    if (preview) problems.push(`preview with expectNoChanges failed: ${proposed(String(preview.message))}`);
    const { trust, mismatches } = trustFound;
    problems.push(...mismatches);
    const certificatesChanged = before ? trustChanges(before, trust) : [];
    // A certificate made for the first time ("new") changes nothing that was trusted before.
    for (const change of certificatesChanged.filter((x) => !intended.includes(x) && !x.endsWith(" new"))) problems.push(`certificate ${change}`);
    problems.push(...accountProblems(account));
    const objectsLost = Object.values(account).reduce((n, a) => n + a.lost.length, 0);
    for (const failed of syncFailures) if (failed) problems.push(failed);
    c.log(`checks took (s, at once): ${JSON.stringify(seconds)}`);
    if (problems.length) c.log(`not converged: ${problems.join("; ")}`);
    return { problems, objectsLost, trust, certificatesChanged, account };
}
