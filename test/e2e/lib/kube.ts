/**
 * A small Kubernetes REST client for the end-to-end suite: reads objects back from the bed's real API servers.
 * It speaks HTTPS with what a kubeconfig gives (CA data, client certificate or bearer token), and refuses any
 * server that is not the bed's (127.0.0.0/8; 10.0.0.0/8 only inside the run's own network namespace).
 */
import * as fs from "fs";
import { parse as parseYaml } from "yaml";
import { KubeResponse, isBedAddress, kubeHttps } from "../bed/clusters";

export { isBedAddress };

export interface KubeCredentials {
    server: string;
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    token?: string;
}

interface KubeconfigDoc {
    "current-context"?: string;
    contexts?: { name: string; context: { cluster: string; user: string } }[];
    clusters?: { name: string; cluster: { server: string; "certificate-authority-data"?: string; "certificate-authority"?: string } }[];
    users?: { name: string; user: Record<string, string | undefined> }[];
}

const fromFileOrData = (data?: string, file?: string): Buffer | undefined =>
    data ? Buffer.from(data, "base64") : file ? fs.readFileSync(file) : undefined;

/** Credentials of a kubeconfig's current context. */
export function credentialsFromKubeconfig(text: string): KubeCredentials {
    const doc = parseYaml(text) as KubeconfigDoc;
    const ctxName = doc["current-context"] ?? doc.contexts?.[0]?.name;
    const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
    const cluster = doc.clusters?.find((c) => c.name === ctx?.cluster)?.cluster ?? doc.clusters?.[0]?.cluster;
    const user = doc.users?.find((u) => u.name === ctx?.user)?.user ?? doc.users?.[0]?.user ?? {};
    if (!cluster?.server) throw new Error("kubeconfig has no server");
    return {
        server: cluster.server,
        ca: fromFileOrData(cluster["certificate-authority-data"], cluster["certificate-authority"]),
        cert: fromFileOrData(user["client-certificate-data"], user["client-certificate"]),
        key: fromFileOrData(user["client-key-data"], user["client-key"]),
        token: user.token ?? (user.tokenFile ? fs.readFileSync(user.tokenFile, "utf8").trim() : undefined),
    };
}

export class KubeError extends Error {
    constructor(
        public readonly status: number,
        public readonly body: any,
        message: string,
    ) {
        super(message);
    }
}

export class Kube {
    private readonly url: URL;

    constructor(public readonly creds: KubeCredentials, public readonly name = creds.server) {
        this.url = new URL(creds.server);
        if (!isBedAddress(this.url.hostname)) throw new Error(`refusing to dial ${creds.server}: not an address of the bed`);
    }

    static fromKubeconfig(text: string, name?: string): Kube {
        const creds = credentialsFromKubeconfig(text);
        return new Kube(creds, name ?? creds.server);
    }

    async request<T = any>(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<T> {
        const url = new URL((this.url.pathname.replace(/\/$/, "") || "") + path, this.url.origin);
        let r: KubeResponse<T>;
        try {
            r = await kubeHttps<T>(url, method, body, this.creds, { contentType });
        } catch (e) {
            throw new Error(`${method} ${path} on ${this.name}: ${(e as Error).message}`);
        }
        const parsed: any = r.body;
        if (r.status >= 200 && r.status < 300) return r.body;
        throw new KubeError(r.status, parsed, `${method} ${path} on ${this.name}: ${r.status} ${parsed?.message ?? r.text}`);
    }

    get<T = any>(path: string): Promise<T> {
        return this.request<T>("GET", path);
    }

    /** The object, or undefined on 404. */
    async getOrUndefined<T = any>(path: string): Promise<T | undefined> {
        try {
            return await this.get<T>(path);
        } catch (e) {
            if (e instanceof KubeError && e.status === 404) return undefined;
            throw e;
        }
    }

    async list(path: string, query = ""): Promise<any[]> {
        const r = await this.get<{ items: any[] }>(path + (query ? `?${query}` : ""));
        return r.items ?? [];
    }

    create<T = any>(path: string, body: unknown, dryRun = false): Promise<T> {
        return this.request<T>("POST", path + (dryRun ? "?dryRun=All" : ""), body);
    }

    delete(path: string): Promise<any> {
        return this.request("DELETE", path);
    }
}

/** Polls `fn` until it returns a value other than undefined/false, or fails with the last error. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 1000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = await fn();
            if (v !== undefined && v !== false) return v as T;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
        await new Promise((r) => setTimeout(r, everyMs));
    }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const b64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
