/**
 * A census of an API server: every object of every listable resource (found through discovery), as
 * "<group>/<kind> <namespace>/<name>" strings. Two censuses, before `up` and after `destroy`, show exactly what a
 * run left behind. Objects that churn on their own (Events, Leases, the controllers' own bookkeeping) are left out.
 */
import { Kube } from "./kube";

/** Resources whose objects come and go by themselves on any cluster, program or not. */
const CHURN = new Set(["events", "events.events.k8s.io", "leases.coordination.k8s.io", "componentstatuses"]);

interface ApiResource {
    name: string;
    kind: string;
    namespaced: boolean;
    verbs: string[];
}

async function groupVersions(k: Kube): Promise<string[]> {
    const groups = (await k.get("/apis")).groups as { preferredVersion: { groupVersion: string } }[];
    return ["v1", ...groups.map((g) => g.preferredVersion.groupVersion)];
}

export async function census(k: Kube): Promise<Set<string>> {
    // Discovery per group version, then every list, all at once: a census of a cluster is ~60 lists.
    const lists = (
        await Promise.all(
            (await groupVersions(k)).map(async (gv) => {
                const base = gv === "v1" ? "/api/v1" : `/apis/${gv}`;
                const group = gv === "v1" ? "core" : gv.split("/")[0];
                const resources = ((await k.get(base)).resources ?? []) as ApiResource[];
                return resources
                    .filter((r) => !r.name.includes("/") && r.verbs.includes("list") && !CHURN.has(group === "core" ? r.name : `${r.name}.${group}`))
                    .map((r) => ({ group, kind: r.kind, path: `${base}/${r.name}` }));
            }),
        )
    ).flat();
    const found = new Set<string>();
    await Promise.all(
        lists.map(async ({ group, kind, path }) => {
            for (const o of await k.list(path)) found.add(`${group}/${kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`);
        }),
    );
    return found;
}

/** What `after` has that `before` had not, sorted. */
export const added = (before: Set<string>, after: Set<string>) => [...after].filter((x) => !before.has(x)).sort();
