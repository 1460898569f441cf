/**
 * The Pulumi side of the end-to-end suites: the real CLI (built by the bed from Go modules) through the Automation
 * API, with the program run inline. There is no Node.js language host here (its Go module is refused): an inline
 * program needs none, because the Automation API serves it from this Node process and runs the CLI with `--client`.
 * The inline program does exactly what index.ts does, `stackOutputs(deploy(pulumi.runtime.allConfig()))`
 * (test/stacks/program.test.ts ties the two together).
 *
 * Each run gets its own PULUMI_HOME, a local file backend (PULUMI_BACKEND_URL, which beats the project's
 * `backend.url`) and a project directory holding a copy of the repository's Pulumi.yaml, so the CLI applies the
 * project's typed config and defaults as it would for a user; no Pulumi.<stack>.yaml is written into the repository.
 *
 * Plugins: the engine prefers a `pulumi-resource-<name>` on PATH. PATH holds the bed's bin directory
 * (pulumi-resource-kubernetes 4.25.0, built from Go modules) and the tls STAND-IN (test/e2e/tls-stand-in/: a
 * Node.js provider on openssl, because the Go module proxy refuses pulumi-tls). Automatic plugin downloads are off.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml, stringify } from "yaml";
import { REPO, cacheDir } from "./bed";
import { clustersConfig } from "./meshChecks";

export { REPO };

/** The tls provider stand-in (named wherever it is used): the Go module proxy refuses the real one. */
export const TLS_STAND_IN = path.join(REPO, "test/e2e/tls-stand-in");

export interface PulumiEnv {
    home: string;
    stateDir: string;
    projectDir: string;
    /** Directory whose bin/ holds the CLI (PulumiCommand.get's `root`). */
    cliRoot: string;
    envVars: Record<string, string>;
}

/** The CLI and plugin directory: the bed cache's bin/ (build.sh pieces `pulumi`, `kubernetes-provider`). */
export function engineBinDir(): string {
    const bin = path.join(cacheDir(), "bin");
    for (const b of ["pulumi", "pulumi-resource-kubernetes"]) {
        if (!fs.existsSync(path.join(bin, b))) throw new Error(`${path.join(bin, b)} is missing: run test/e2e/bed/build.sh`);
    }
    return bin;
}

/** Makes PULUMI_HOME, the state directory and the project directory under `root`. */
export function preparePulumi(root: string, extraEnv: Record<string, string> = {}): PulumiEnv {
    const bin = engineBinDir();
    const home = path.join(root, "pulumi-home");
    const stateDir = path.join(root, "state");
    const projectDir = path.join(root, "project");
    const cliRoot = path.join(root, "cli");
    for (const d of [home, stateDir, projectDir, cliRoot]) fs.mkdirSync(d, { recursive: true });
    if (!fs.existsSync(path.join(cliRoot, "bin"))) fs.symlinkSync(bin, path.join(cliRoot, "bin"));
    fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(projectDir, "Pulumi.yaml"));
    // The CLI checks that the project's `main` exists, even for an inline program; relative chart directories
    // resolve against the project directory, as for a user.
    for (const entry of ["index.ts", "package.json"]) {
        const link = path.join(projectDir, entry);
        if (!fs.existsSync(link)) fs.symlinkSync(path.join(REPO, entry), link);
    }
    const envVars: Record<string, string> = {
        PATH: `${bin}:${TLS_STAND_IN}:${process.env.PATH ?? ""}`,
        PULUMI_HOME: home,
        PULUMI_BACKEND_URL: `file://${stateDir}`,
        PULUMI_CONFIG_PASSPHRASE: "e2e-bed-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        ...extraEnv,
    };
    return { home, stateDir, projectDir, cliRoot, envVars };
}

/**
 * What index.ts runs, as an inline program (the project's modules are loaded by jest's transform). One difference:
 * where index.ts throws its ConfigError (the CLI prints it as the program's unhandled exception), this reports the
 * same message as an error diagnostic, which fails the preview or update just the same: a throw inside the inline
 * program would also reach jest's own handlers in this process and fail whichever test is running.
 */
export const meshProgram: pulumi.automation.PulumiFn = async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { deploy, stackOutputs } = require(path.join(REPO, "stacks/deploy")) as typeof import("../../../stacks/deploy");
    let deployment: ReturnType<typeof deploy>;
    try {
        deployment = deploy(pulumi.runtime.allConfig());
    } catch (e) {
        await pulumi.log.error(String((e as Error).message));
        return {};
    }
    return stackOutputs(deployment);
};

/** The project's name, from Pulumi.yaml (the inline program runs as that project). */
const projectName = () => parseYaml(fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8")).name as string;

export async function openStack(env: PulumiEnv, stackName: string, program: pulumi.automation.PulumiFn = meshProgram): Promise<Stack> {
    const pulumiCommand = await PulumiCommand.get({ root: env.cliRoot, skipVersionCheck: true });
    return LocalWorkspace.createOrSelectStack(
        { stackName, projectName: projectName(), program },
        { workDir: env.projectDir, pulumiHome: env.home, envVars: env.envVars, pulumiCommand },
    );
}

/**
 * Replaces the stack's config with `config` (the YAML form the README shows), keeping the stack file's other keys
 * (the passphrase salt). The file lives in the temporary project directory.
 */
export function writeStackConfig(env: PulumiEnv, stackName: string, config: Record<string, unknown>): void {
    const file = path.join(env.projectDir, `Pulumi.${stackName}.yaml`);
    const doc = fs.existsSync(file) ? (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) : {};
    doc.config = config;
    fs.writeFileSync(file, stringify(doc));
}

/**
 * Operations that change nothing on a cluster: `same`, `read` (the program's `Service.get`s), and `refresh`: the
 * project refreshes before every operation (Pulumi.yaml `options.refresh: always`), and within an `up` the engine
 * reports a "refresh" operation for every resource it read back (engine/update.go, CLI 3.274.1), whether or not the
 * read found it changed.
 */
export const NO_CHANGE_OPS = ["same", "read", "refresh"];

/** An update's or a preview's resource changes (`summary.resourceChanges`, `changeSummary`) other than NO_CHANGE_OPS. */
export const changesOf = (counts: Record<string, number> | undefined): Record<string, number> =>
    Object.fromEntries(Object.entries(counts ?? {}).filter(([k, v]) => !NO_CHANGE_OPS.includes(k) && v > 0));

/**
 * Runs `f` with `--refresh=false` added to the `up`, `preview` and `destroy` it makes on `stack`, as a user types it to
 * skip the project's `options.refresh: always` for one run. The Automation API has no option for that flag: it passes
 * `--refresh` or nothing.
 */
export async function withoutRefresh<T>(stack: Stack, f: () => Promise<T>): Promise<T> {
    // PulumiCommand.run(args, cwd, env, …) runs every CLI command; it is left out of the SDK's typings.
    const command = stack.workspace.pulumiCommand as unknown as { run: (args: string[], ...rest: unknown[]) => Promise<unknown> };
    const run = command.run;
    command.run = (args, ...rest) => run.call(command, ["up", "preview", "destroy"].includes(args[0]) ? [...args, "--refresh=false"] : args, ...rest);
    try {
        return await f();
    } finally {
        command.run = run;
    }
}

/** The error an engine call (or any promise) failed with, or undefined when it succeeded. */
export const errorOf = (p: Promise<unknown>): Promise<Error | undefined> => p.then(() => undefined, (e: Error) => e);

/** The stack's resources in its state (the engine's checkpoint). */
export const stateResources = async (s: Stack): Promise<any[]> => ((await s.exportStack()).deployment.resources ?? []) as any[];

export interface BedClusterRef {
    name: string;
    network: string;
    kubeconfigPath: string;
}

export interface MeshConfigOptions {
    istioVersion: string;
    chartSource: string;
    clusters: BedClusterRef[];
    allowRootRotation?: boolean;
    extra?: Record<string, unknown>;
}

/** The existing-clusters stack the suites deploy: the topology's clusters, helloworld and Bookinfo, the verification. */
export function meshConfig(o: MeshConfigOptions): Record<string, unknown> {
    const p = (k: string) => `istio-multicluster:${k}`;
    return {
        ...clustersConfig(o),
        [p("samples")]: {
            helloworld: { enabled: true },
            // Bookinfo's ingress gateway (ClusterIP by default on clusters the program did not make) as a load
            // balancer, whose address the bed's LB Stage (kwok) gives.
            bookinfo: { enabled: true, ingressServiceType: "LoadBalancer" },
            // Under kwok no container runs: the Jobs "complete" because kwok says so, not because traffic
            // crossed clusters. They are kept (they are part of the program) and not counted as evidence.
            verification: { enabled: true, rounds: 1, requestsPerRound: 1, intervalSeconds: 0 },
        },
        [p("ca")]: { allowRootRotation: o.allowRootRotation ?? false },
        ...(o.extra ?? {}),
    };
}
