/**
 * The suite's view of the bed that test/e2e/bed/ builds and starts (helper-owned files, used as they are).
 * `startBed` is loaded at run time, so `npm test`'s type-check never depends on the bed's files or on Go.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** The repository root. */
export const REPO = path.resolve(__dirname, "../../..");

export interface BedCluster {
    name: string;
    kubeconfigPath: string;
    kubeconfig: string;
    apiServerUrl: string;
    apiServerAddress: string;
    apiServerPort: number;
    /** A second address the API server's certificate covers; nothing listens there (see bed/clusters.ts). */
    apiServerAlternateAddress: string;
    serviceCidr: string;
    podCidr: string;
    loadBalancerCidr: string;
    [k: string]: unknown;
}

export interface Bed {
    clusters: BedCluster[];
    workDir: string;
    stop(): Promise<void> | void;
    /** Stops one cluster's kube-apiserver; startApiServer starts it again as it was (bed/clusters.ts). */
    stopApiServer(name: string): Promise<void>;
    startApiServer(name: string): Promise<void>;
}

export const cacheDir = () => process.env.ISTIO_MC_BED_CACHE ?? path.join(os.homedir(), ".cache", "istio-multicluster-bed");

/** Istio versions the bed builds (versions.env). */
export function bedIstioVersions(): string[] {
    const text = fs.readFileSync(path.join(REPO, "test/e2e/bed/versions.env"), "utf8");
    const m = /^ISTIO_VERSIONS="?([^"\n]*)"?/m.exec(text);
    return m ? m[1].trim().split(/\s+/) : [];
}

export const chartsDir = (version: string) => path.join(cacheDir(), `istio-${version}`, "charts");
export const pilotDiscovery = (version: string) => path.join(cacheDir(), `istio-${version}`, "bin", "pilot-discovery");

/** Runs the (idempotent) bed build; set E2E_SKIP_BUILD=1 to only use what the cache holds. */
export function buildBed(): void {
    if (process.env.E2E_SKIP_BUILD === "1") return;
    execFileSync("bash", [path.join(REPO, "test/e2e/bed/build.sh")], { stdio: ["ignore", process.stderr, process.stderr], env: { ...process.env, ISTIO_MC_BED_CACHE: cacheDir() } });
}

export async function startBed(names: string[], workDir: string): Promise<Bed> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(REPO, "test/e2e/bed/clusters"));
    return mod.startBed({ names, workDir, cacheDir: cacheDir() });
}
