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
    const found = new Set<string>();
    for (const gv of await groupVersions(k)) {
        const base = gv === "v1" ? "/api/v1" : `/apis/${gv}`;
        const group = gv === "v1" ? "core" : gv.split("/")[0];
        const resources = ((await k.get(base)).resources ?? []) as ApiResource[];
        for (const r of resources) {
            if (r.name.includes("/") || !r.verbs.includes("list")) continue;
            if (CHURN.has(group === "core" ? r.name : `${r.name}.${group}`)) continue;
            for (const o of await k.list(`${base}/${r.name}`)) {
                found.add(`${group}/${r.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`);
            }
        }
    }
    return found;
}

/** What `after` has that `before` had not, sorted. */
export const added = (before: Set<string>, after: Set<string>) => [...after].filter((x) => !before.has(x)).sort();
