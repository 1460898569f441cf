/**
 * Watches the Secrets of a namespace on the bed's API servers (a Kubernetes watch, `?watch=true`), to see what an
 * `up` really does to them, to the millisecond: updated in place (MODIFIED, same UID) or replaced (DELETED then
 * ADDED under the same name, a new UID), and for how long a replaced Secret was absent. Only names, UIDs and
 * times are kept, never data.
 */
import * as https from "https";
import { Kube, isBedAddress } from "./kube";

export interface SecretEvent {
    /** When this process received the event (ms). */
    at: number;
    cluster: string;
    type: "ADDED" | "MODIFIED" | "DELETED";
    name: string;
    uid: string;
}

/** What happened to one Secret between two moments. */
export interface SecretHistory {
    cluster: string;
    name: string;
    /** "in place" (only MODIFIED, one UID), "replaced" (deleted and added again), "created", "deleted", or "untouched". */
    what: "in place" | "replaced" | "created" | "deleted" | "untouched";
    /** For a replacement: milliseconds between the DELETED and the next ADDED (how long the name was absent). */
    absentMs?: number;
    /** The watch events, as "<type>@+<ms since the start>" with the object's UID. */
    events: string[];
}

export class SecretWatch {
    readonly events: SecretEvent[] = [];
    private stopped = false;
    private requests: ReturnType<typeof https.request>[] = [];

    constructor(private readonly kube: Record<string, Kube>, private readonly namespace: string) {}

    /** Starts one watch per cluster, from the current resource version; reconnects when the server ends a watch. */
    async start(): Promise<void> {
        await Promise.all(Object.entries(this.kube).map(async ([cluster, k]) => {
            const list = await k.get(`/api/v1/namespaces/${this.namespace}/secrets`);
            this.watch(cluster, k, list.metadata.resourceVersion);
        }));
    }

    private watch(cluster: string, k: Kube, resourceVersion: string): void {
        if (this.stopped) return;
        const url = new URL(`${k.creds.server.replace(/\/$/, "")}/api/v1/namespaces/${this.namespace}/secrets?watch=true&allowWatchBookmarks=true&resourceVersion=${resourceVersion}&timeoutSeconds=600`);
        if (!isBedAddress(url.hostname)) throw new Error(`refusing to dial ${url.host}: not an address of the bed`);
        let rv = resourceVersion;
        let buffer = "";
        const req = https.request(url, { method: "GET", ca: k.creds.ca, cert: k.creds.cert, key: k.creds.key, agent: false, headers: { Accept: "application/json" } }, (res) => {
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => {
                buffer += chunk;
                let nl: number;
                while ((nl = buffer.indexOf("\n")) >= 0) {
                    const line = buffer.slice(0, nl).trim();
                    buffer = buffer.slice(nl + 1);
                    if (!line) continue;
                    const e = JSON.parse(line);
                    const md = e.object?.metadata ?? {};
                    if (md.resourceVersion) rv = md.resourceVersion;
                    if (e.type === "ADDED" || e.type === "MODIFIED" || e.type === "DELETED") {
                        this.events.push({ at: Date.now(), cluster, type: e.type, name: md.name, uid: md.uid });
                    }
                }
            });
            res.on("end", () => setTimeout(() => this.watch(cluster, k, rv), 100));
        });
        req.on("error", () => setTimeout(() => this.watch(cluster, k, rv), 500));
        req.end();
        this.requests.push(req);
    }

    stop(): void {
        this.stopped = true;
        for (const r of this.requests) r.destroy();
    }

    /** What happened to each Secret whose name matches `name`, from `since` on. */
    history(name: RegExp, since: number, until = Date.now()): SecretHistory[] {
        const byKey = new Map<string, SecretEvent[]>();
        for (const e of this.events.filter((x) => x.at >= since && x.at <= until && name.test(x.name))) {
            const key = `${e.cluster}/${e.name}`;
            byKey.set(key, [...(byKey.get(key) ?? []), e]);
        }
        return [...byKey.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, evs]) => {
            const types = evs.map((e) => e.type);
            const deleted = evs.findIndex((e) => e.type === "DELETED");
            const addedAfter = deleted >= 0 ? evs.findIndex((e, i) => i > deleted && e.type === "ADDED") : -1;
            const what: SecretHistory["what"] =
                deleted >= 0 && addedAfter >= 0 ? "replaced"
                : deleted >= 0 ? "deleted"
                : types.includes("ADDED") ? "created"
                : new Set(evs.map((e) => e.uid)).size === 1 ? "in place"
                : "untouched";
            return {
                cluster: evs[0].cluster,
                name: evs[0].name,
                what,
                ...(what === "replaced" ? { absentMs: evs[addedAfter].at - evs[deleted].at } : {}),
                events: evs.map((e) => `${e.type}@+${e.at - since}ms uid=${e.uid.slice(0, 8)}`),
            };
        });
    }
}
