/**
 * Settings for rotating trust (docs/rotation.md): reader-token generations and schedule, root rotation stages,
 * intermediate renewal. Their shapes (merged into `ca` and the common settings by config.ts) and the checks that
 * span settings, run with every other check before anything is declared.
 */
import * as crypto from "crypto";
import { z } from "zod";
import { ROOT_ROTATION_STAGES } from "../components/core/caRotation";
import { DEFAULT_CA_VALIDITY_HOURS } from "../components/core/meshCA";
import { DEFAULT_ISTIO_VERSION, compareVersions, parseVersion } from "../components/common/istioVersion";
import { formatPath, fromText } from "./validation";

/** A raw setting as a number, whether it came as a number or as text; undefined otherwise. */
const asNumber = (v: unknown) => fromText(z.number()).safeParse(v).data;

const generation = (what: string) =>
    fromText(
        z
            .number({ error: `must be a whole number, at least 1 (${what})` })
            .int({ error: `must be a whole number, at least 1 (${what})` })
            .min(1, { error: `must be at least 1 (${what}; 1 is the first)` }),
    );

const wholeNumber = (unit: string) =>
    fromText(
        z
            .number({ error: `must be a whole number of ${unit}` })
            .int({ error: `must be a whole number of ${unit}` })
            .min(1, { error: `must be at least 1 (${unit})` }),
    );

/** Added to `ca` (config.ts). */
export const caRotationFields = {
    rootGeneration: generation("the generation of the generated root in use").optional(),
    rootRotation: z.enum(ROOT_ROTATION_STAGES, { error: `must be one of ${ROOT_ROTATION_STAGES.join(", ")} (the stages, in this order, one pulumi up each)` }).optional(),
    intermediateGenerations: z.record(z.string(), generation("the generation of that cluster's intermediate CA")).optional(),
    earlyRenewalHours: wholeNumber("hours").optional(),
};

const pem = (what: string) => z.string({ error: `must be ${what} as PEM text` }).min(1, { error: `must be ${what} as PEM text` });

/** Added to `ca.provided` (config.ts). */
export const providedRotationFields = {
    nextRootCertPem: pem("the next root certificate (stage trust-both)").optional(),
    previousRootCertPem: pem("the previous root certificate (stage reissue)").optional(),
};

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** `istio-multicluster:readerTokens`: rotation of the remote secrets' reader tokens. */
export const readerTokensSettings = z
    .strictObject({
        generation: generation("bump it to rotate every reader token").optional(),
        maxAgeDays: wholeNumber("days").optional(),
        scheduleStart: z
            .string({ error: 'must be a date "YYYY-MM-DD"' })
            .regex(DATE, { error: 'must be a date "YYYY-MM-DD" (UTC), such as "2026-11-23"' })
            .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), { error: 'must be a real date "YYYY-MM-DD"' })
            .optional(),
    })
    .optional();

/** The `trustRotation` stack output: the stage and generations the last `up` applied. */
export interface TrustRotation {
    rootGeneration: number;
    rootRotation: string;
    readerTokenGeneration: number;
}

export type ReaderTokensSettings = NonNullable<z.output<typeof readerTokensSettings>>;

/** istiod before 1.30.3 ignores an updated remote secret until restarted (istio#60612). */
export const TOKEN_ROTATION_MIN_PATCH = { major: 1, minor: 30, patch: 3 } as const;

export function tokenRotationRefused(istioVersion: string): boolean {
    const v = parseVersion(istioVersion);
    return v !== undefined && compareVersions(v, TOKEN_ROTATION_MIN_PATCH) < 0;
}

const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

function selfSignedCAProblem(pemText: unknown): string | undefined {
    if (typeof pemText !== "string") return undefined;
    try {
        const c = new crypto.X509Certificate(pemText);
        if (!c.ca) return "is not a CA certificate (basicConstraints CA:TRUE)";
        if (!c.verify(c.publicKey)) return "is not self-signed (a root)";
    } catch (e) {
        return `is not a PEM certificate (${(e as Error).message})`;
    }
    return undefined;
}

const sameCert = (a: unknown, b: unknown) => {
    try {
        return typeof a === "string" && typeof b === "string" && new crypto.X509Certificate(a).fingerprint256 === new crypto.X509Certificate(b).fingerprint256;
    } catch {
        return false;
    }
};

/**
 * Problems between rotation settings and the rest, on raw settings (entries malformed on their own are left to
 * the schemas). `now` decides whether a schedule starts in the future.
 */
export function rotationProblems(raw: Record<string, unknown>, clusterNames: string[], now: Date): string[] {
    const problems: string[] = [];
    const tokens = obj(raw.readerTokens);
    // Every istiod that reads remote secrets must have the fix: with revisions, each revision's version.
    const istiodVersions: [(string | number)[], string][] = Array.isArray(raw.revisions)
        ? raw.revisions.flatMap((r: unknown, i) => {
              const version = obj(r)?.version;
              return typeof version === "string" ? [[["revisions", i, "version"], version] as [(string | number)[], string]] : [];
          })
        : [[["istioVersion"], typeof raw.istioVersion === "string" ? raw.istioVersion : DEFAULT_ISTIO_VERSION]];
    if (tokens) {
        const rotating = (asNumber(tokens.generation) ?? 1) > 1 || tokens.maxAgeDays !== undefined;
        for (const [where, istioVersion] of istiodVersions.filter(([, v]) => rotating && tokenRotationRefused(v))) {
            problems.push(
                `${formatPath(["readerTokens"])}: reader-token rotation needs Istio 1.30.3 or later: istiod before 1.30.3 ignores an updated remote secret ` +
                    `and keeps the revoked token (istio#60612); ${formatPath(where)} is ${istioVersion}. Upgrade first, then rotate`,
            );
        }
        if (tokens.maxAgeDays !== undefined && tokens.scheduleStart === undefined) {
            problems.push(`${formatPath(["readerTokens", "scheduleStart"])}: required with ${formatPath(["readerTokens", "maxAgeDays"])}: the date (UTC) the schedule counts from, such as "${now.toISOString().slice(0, 10)}"`);
        }
        if (tokens.scheduleStart !== undefined && tokens.maxAgeDays === undefined) {
            problems.push(`${formatPath(["readerTokens", "scheduleStart"])}: has no effect without ${formatPath(["readerTokens", "maxAgeDays"])}; set both or neither`);
        }
        if (typeof tokens.scheduleStart === "string" && Date.parse(`${tokens.scheduleStart}T00:00:00Z`) > now.getTime()) {
            problems.push(`${formatPath(["readerTokens", "scheduleStart"])}: ${tokens.scheduleStart} is in the future; the schedule counts from a past date (UTC)`);
        }
    }

    const ca = obj(raw.ca);
    if (!ca) return problems;
    const provided = obj(ca.provided);
    const stage = ca.rootRotation;
    if (provided) {
        for (const key of ["rootGeneration", "intermediateGenerations", "earlyRenewalHours"]) {
            if (ca[key] !== undefined) problems.push(`${formatPath(["ca", key])}: applies to the generated CA only; with ${formatPath(["ca", "provided"])} you issue and renew the certificates yourself`);
        }
        const next = provided.nextRootCertPem;
        const previous = provided.previousRootCertPem;
        if (stage === "trust-both" && next === undefined) {
            problems.push(`${formatPath(["ca", "provided", "nextRootCertPem"])}: required in stage trust-both: the new root every cluster starts to trust (intermediates still chain to rootCertPem)`);
        }
        if (stage === "reissue" && previous === undefined) {
            problems.push(
                `${formatPath(["ca", "provided", "previousRootCertPem"])}: required in stage reissue: the old root, still trusted while the new intermediates (chaining to rootCertPem, the new root) roll out`,
            );
        }
        if (next !== undefined && stage !== "trust-both") {
            problems.push(`${formatPath(["ca", "provided", "nextRootCertPem"])}: only used in stage trust-both; in ${stage ?? "no stage"} remove it (stage reissue: the new root is rootCertPem, the old one previousRootCertPem)`);
        }
        if (previous !== undefined && stage !== "reissue") {
            problems.push(
                `${formatPath(["ca", "provided", "previousRootCertPem"])}: only used in stage reissue; ` +
                    (stage === "drop-old" ? "stage drop-old stops trusting the old root: remove it" : `in ${stage ?? "no stage"} remove it`),
            );
        }
        for (const [key, value] of [["nextRootCertPem", next], ["previousRootCertPem", previous]] as const) {
            const p = selfSignedCAProblem(value);
            if (p) problems.push(`${formatPath(["ca", "provided", key])}: ${p}`);
            else if (value !== undefined && sameCert(value, provided.rootCertPem)) problems.push(`${formatPath(["ca", "provided", key])}: is the same certificate as rootCertPem; a rotation needs a different root`);
        }
    }
    const generations = obj(ca.intermediateGenerations);
    for (const name of Object.keys(generations ?? {}).filter((n) => !clusterNames.includes(n))) {
        problems.push(`${formatPath(["ca", "intermediateGenerations", name])}: no cluster is named "${name}"; clusters are ${clusterNames.join(", ")}`);
    }
    // Against the default validity too: an intermediate is always issued for validityHours, set or not.
    const validity = ca.validityHours === undefined ? DEFAULT_CA_VALIDITY_HOURS : asNumber(ca.validityHours);
    const early = asNumber(ca.earlyRenewalHours);
    if (early !== undefined && validity !== undefined && early >= validity) {
        problems.push(
            `${formatPath(["ca", "earlyRenewalHours"])}: ${early} is not below ${formatPath(["ca", "validityHours"])} (${validity}${ca.validityHours === undefined ? ", the default" : ""}): every up would re-issue the intermediates`,
        );
    }
    return problems;
}

/** Warnings that need no PEM (so they show in the first preview too, where new certificates are unknown). */
export function rotationWarnings(ca: { validityHours: number; provided?: unknown }): string[] {
    if (ca.provided || ca.validityHours >= 30 * 24) return [];
    return [`${formatPath(["ca", "validityHours"])}: ${ca.validityHours} hours is within 30 days: every generated certificate starts within 30 days of expiry`];
}
