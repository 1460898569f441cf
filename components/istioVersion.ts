/** Istio versions: which are supported, and what each chart version reads. */

export interface Version {
    major: number;
    minor: number;
    patch: number;
}

/** Istio 1.28 and older are end of life; 1.29 and 1.30 are supported (late 2026). */
export const OLDEST_SUPPORTED_ISTIO_MINOR = { major: 1, minor: 29 } as const;
export const DEFAULT_ISTIO_VERSION = "1.30.4";
/** Istio's official Helm repository. */
export const ISTIO_HELM_REPO = "https://istio-release.storage.googleapis.com/charts";

export function parseVersion(text: string): Version | undefined {
    const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(text);
    return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}

export function compareVersions(a: Version, b: Version): number {
    return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function requireVersion(text: string): Version {
    const v = parseVersion(text);
    if (!v) throw new Error(`Istio version must be "x.y.z", got "${text}"`);
    return v;
}

/**
 * `base.validationFailurePolicy` is read by the base and istiod charts from 1.29.2 and 1.30.0 on. Setting it
 * to `Fail` makes the chart render what istiod would otherwise patch in after start-up, so nothing flips the
 * webhook back and forth on upgrades.
 */
export function supportsValidationFailurePolicy(version: string): boolean {
    const v = requireVersion(version);
    if (v.major === 1 && v.minor === 29) return v.patch >= 2;
    return compareVersions(v, { major: 1, minor: 30, patch: 0 }) >= 0;
}
