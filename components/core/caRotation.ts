import * as crypto from "crypto";

/**
 * Trust rotation without downtime: the pure rules behind the mesh CA's root rotation stages, intermediate
 * renewal and reader-token generations. No resources here: `MeshCA`, `RemoteSecret` and `Mesh` apply them.
 *
 * Root rotation, each stage one `pulumi up` (G = `rootGeneration`, the root in use; G+1 the next root):
 * - none:        root G signs the intermediates, every cluster trusts root G.
 * - trust-both:  root G+1 is created (protected); every cluster trusts G and G+1 (combined `root-cert.pem`,
 *                ISTIO_MULTIROOT_MESH=true on istiod); root G still signs the intermediates.
 * - reissue:     intermediates are re-issued from root G+1; trust stays G and G+1.
 * - drop-old:    every cluster trusts G+1 only; root G is no longer trusted and so unprotected, but still declared
 *                (Pulumi refuses to delete a protected resource, and unprotecting is itself an update).
 * - then `rootGeneration` = G+1 without a stage: root G is no longer declared and the engine deletes it.
 * A root that any cluster trusts is never unprotected (unless `allowRootRotation`), so no stage deletes it.
 */
export const ROOT_ROTATION_STAGES = ["trust-both", "reissue", "drop-old"] as const;
export type RootRotationStage = (typeof ROOT_ROTATION_STAGES)[number];

/** istiod's switch for a root bundle (pilot/pkg/features/pilot.go); without it istiod refuses a new root on reload. */
export const MULTIROOT_ENV = "ISTIO_MULTIROOT_MESH";

export interface RootPlanEntry {
    generation: number;
    /** Part of every cluster's `root-cert.pem`. */
    trusted: boolean;
    /** Signs the intermediates. */
    signs: boolean;
    protect: boolean;
}

/** Which generated roots exist in a stage, and what each does. `allowRootRotation` lifts protection from all. */
export function rootPlan(rootGeneration: number, stage: RootRotationStage | undefined, allowRootRotation = false): RootPlanEntry[] {
    const keep = !allowRootRotation;
    const g = rootGeneration;
    switch (stage) {
        case undefined:
            return [{ generation: g, trusted: true, signs: true, protect: keep }];
        case "trust-both":
            return [
                { generation: g, trusted: true, signs: true, protect: keep },
                { generation: g + 1, trusted: true, signs: false, protect: keep },
            ];
        case "reissue":
            return [
                { generation: g, trusted: true, signs: false, protect: keep },
                { generation: g + 1, trusted: true, signs: true, protect: keep },
            ];
        case "drop-old":
            return [
                { generation: g, trusted: false, signs: false, protect: false },
                { generation: g + 1, trusted: true, signs: true, protect: keep },
            ];
    }
}

/** istiod env a stage needs: the root bundle is only honoured with ISTIO_MULTIROOT_MESH. */
export function rotationIstiodEnv(stage: RootRotationStage | undefined): Record<string, string> {
    return stage ? { [MULTIROOT_ENV]: "true" } : {};
}

/**
 * Resource name of a generated root (key and certificate). Generation 1 keeps the name stacks have always had,
 * so stacks that never rotate see no change.
 */
export function rootResourceName(caName: string, generation: number): string {
    return generation <= 1 ? `${caName}-root` : `${caName}-root-g${generation}`;
}

/**
 * Subject serialNumber that tells generations apart (roots and intermediates): absent for generation 1 (today's
 * subjects), the generation's number after that. A different CSR subject is what makes the tls provider issue a
 * new intermediate on demand, and preview shows it.
 */
export function generationSerial(generation: number): { serialNumber?: string } {
    return generation <= 1 ? {} : { serialNumber: String(generation) };
}

/** Reader-token Secret name for a generation; generation 1 is today's name (no diff for existing stacks). */
export function readerTokenName(targetClusterName: string, generation = 1): string {
    return generation <= 1 ? `istio-reader-token-${targetClusterName}` : `istio-reader-token-${targetClusterName}-g${generation}`;
}

const DAY_MS = 24 * 3600_000;

/**
 * The reader-token generation in effect: the manual `generation` plus, with a schedule, one more for every
 * `maxAgeDays` since `scheduleStart`. Derived from the clock when the program runs, so a plain `pulumi preview`
 * shows a due rotation (no refresh needed); a token is at most maxAgeDays old provided `pulumi up` runs at
 * least that often.
 */
export function readerTokenGeneration(settings: { generation?: number; maxAgeDays?: number; scheduleStart?: string }, now: Date): number {
    const manual = settings.generation ?? 1;
    if (!settings.maxAgeDays || !settings.scheduleStart) return manual;
    const start = Date.parse(`${settings.scheduleStart}T00:00:00Z`);
    const periods = Math.floor((now.getTime() - start) / (settings.maxAgeDays * DAY_MS));
    return manual + Math.max(0, periods);
}

/** Whole days a certificate has left (negative once expired); undefined when the text is not a certificate. */
export function remainingDays(certPem: string, now: Date): number | undefined {
    let cert: crypto.X509Certificate;
    try {
        cert = new crypto.X509Certificate(certPem);
    } catch {
        return undefined;
    }
    return Math.floor((Date.parse(cert.validTo) - now.getTime()) / DAY_MS);
}

/** Hours a certificate was issued for (notBefore to notAfter); undefined when the text is not a certificate. */
export function issuedValidityHours(certPem: string): number | undefined {
    try {
        const cert = new crypto.X509Certificate(certPem);
        return Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 3600_000);
    } catch {
        return undefined;
    }
}

/**
 * Live roots issued with another validity than `ca.validityHours`: the root keeps its own (its inputs never change in
 * place), the intermediates and the next root generation take the setting. Said in every preview and up.
 */
export function rootValidityNotes(roots: Record<string, string>, validityHours: number): string[] {
    return Object.entries(roots).flatMap(([label, pem]) => {
        const issued = issuedValidityHours(pem);
        if (issued === undefined || issued === validityHours) return [];
        return [
            `mesh root ${label} was issued for ${issued} hours and keeps that validity: replacing a live root would break trust between the clusters. ` +
                `ca.validityHours (${validityHours}) applies to the intermediates, re-issued with it, and to the next root, made by a staged root rotation (docs/rotation.md)`,
        ];
    });
}

/** Certificates in a PEM bundle. */
export function pemCertificates(pem: string): string[] {
    return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((p) => `${p}\n`) ?? [];
}

/** A root bundle: each PEM once (compared by its encoded body), in order, newline-terminated. */
export function rootBundle(pems: string[]): string {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const pem of pems.flatMap(pemCertificates)) {
        const body = pem.replace(/-----[A-Z ]+-----|\s/g, "");
        if (!seen.has(body)) {
            seen.add(body);
            out.push(pem);
        }
    }
    return out.join("");
}

/** Certificates closer to expiry than this get a warning (in preview too). */
export const EXPIRY_WARNING_DAYS = 30;

/** Warnings for certificates within EXPIRY_WARNING_DAYS of expiry, given remaining days by label. */
export function expiryWarnings(days: Record<string, number>, what: string): string[] {
    return Object.entries(days)
        .filter(([, d]) => d < EXPIRY_WARNING_DAYS)
        .map(([label, d]) =>
            d < 0
                ? `${what} ${label} expired ${-d} day(s) ago`
                : `${what} ${label} expires in ${d} day(s) (within ${EXPIRY_WARNING_DAYS}); renew it (see docs/rotation.md)`,
        );
}
