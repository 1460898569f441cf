/**
 * The mesh CA as the state holds it and as the clusters hold it, by SHA-256 fingerprint: the root(s) the stack made
 * and each cluster's intermediate, against each cluster's `cacerts` (root-cert.pem, ca-cert.pem). Fingerprints, not
 * PEM text, so two runs can be compared and printed.
 */
import { X509Certificate } from "crypto";
import { Stack } from "@pulumi/pulumi/automation";
import { ISTIO_NS } from "./istiod";
import { Kube, b64 } from "./kube";

export const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

export interface StateTrust {
    /** Root certificate resources (name → fingerprint). */
    roots: Record<string, string>;
    /** Intermediate certificates by the cluster in their subject's L= (cluster → fingerprint). */
    intermediates: Record<string, string>;
}

/** The roots and intermediates in the stack's state. */
export async function stateTrust(stack: Stack): Promise<StateTrust> {
    const resources = ((await stack.exportStack()).deployment.resources ?? []) as any[];
    const out: StateTrust = { roots: {}, intermediates: {} };
    for (const r of resources) {
        const pem = r.outputs?.certPem;
        if (typeof pem !== "string") continue;
        if (r.type === "tls:index/selfSignedCert:SelfSignedCert") out.roots[r.urn.split("::").pop()] = fingerprint(pem);
        if (r.type === "tls:index/locallySignedCert:LocallySignedCert") {
            const cluster = /(?:^|[\s,/])L\s*=\s*([^,/\n]+)/.exec(new X509Certificate(pem).subject)?.[1]?.trim();
            out.intermediates[cluster ?? r.urn.split("::").pop()] = fingerprint(pem);
        }
    }
    return out;
}

/** Each cluster's `cacerts`: the root and the intermediate it holds, by fingerprint. */
export async function clusterTrust(kube: Record<string, Kube>): Promise<Record<string, { root: string; intermediate: string }>> {
    const out: Record<string, { root: string; intermediate: string }> = {};
    for (const [n, k] of Object.entries(kube)) {
        const s = await k.get(`/api/v1/namespaces/${ISTIO_NS}/secrets/cacerts`);
        out[n] = { root: fingerprint(b64(s.data["root-cert.pem"])), intermediate: fingerprint(b64(s.data["ca-cert.pem"])) };
    }
    return out;
}

/**
 * What differs between two views of the state's CA: "<what> changed" for a certificate in both with another
 * fingerprint, "<what> new" / "<what> gone" for one only in one of them.
 */
export function trustChanges(before: StateTrust, after: StateTrust): string[] {
    const out: string[] = [];
    for (const [kind, a, b] of [["root", before.roots, after.roots], ["intermediate", before.intermediates, after.intermediates]] as const) {
        for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
            if (!(k in b)) out.push(`${kind} ${k} gone`);
            else if (!(k in a)) out.push(`${kind} ${k} new`);
            else if (a[k] !== b[k]) out.push(`${kind} ${k} changed`);
        }
    }
    return out.sort();
}

/** Clusters whose `cacerts` do not hold exactly the state's root and their own intermediate from the state. */
export function trustMismatches(state: StateTrust, clusters: Record<string, { root: string; intermediate: string }>): string[] {
    const roots = Object.values(state.roots);
    const out: string[] = [];
    for (const [n, c] of Object.entries(clusters)) {
        if (!roots.includes(c.root)) out.push(`${n}: cacerts root ${c.root.slice(0, 17)}… is not a root of the state`);
        if (state.intermediates[n] !== c.intermediate) out.push(`${n}: cacerts intermediate ${c.intermediate.slice(0, 17)}… is not the state's (${state.intermediates[n]?.slice(0, 17) ?? "none"}…)`);
    }
    return out;
}
