/**
 * The Pulumi side of the suite: the real CLI (built by the bed) through the Automation API, a local file
 * backend in a temporary directory, and a temporary project directory, so no Pulumi.<stack>.yaml is ever
 * written into the repository.
 *
 * The project directory holds a copy of Pulumi.yaml (its `backend` pointed at the temporary state) and
 * symlinks to the program (index.ts, components, stacks, package.json, tsconfig.json, node_modules).
 */
import * as fs from "fs";
import * as path from "path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml, stringify } from "yaml";
import { REPO } from "./bed";
import { clustersConfig } from "./meshChecks";

export { REPO };

export interface PulumiEnv {
    home: string;
    stateDir: string;
    projectDir: string;
    envVars: Record<string, string>;
}

/** Makes PULUMI_HOME, the state directory and the project directory under `root`. */
export function preparePulumi(root: string, binDir: string): PulumiEnv {
    const home = path.join(root, "pulumi-home");
    const stateDir = path.join(root, "state");
    const projectDir = path.join(root, "project");
    for (const d of [home, stateDir, projectDir]) fs.mkdirSync(d, { recursive: true });
    const project = parseYaml(fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8"));
    project.backend = { url: `file://${stateDir}` };
    fs.writeFileSync(path.join(projectDir, "Pulumi.yaml"), stringify(project));
    for (const entry of ["index.ts", "components", "stacks", "package.json", "tsconfig.json", "node_modules"]) {
        const link = path.join(projectDir, entry);
        if (!fs.existsSync(link)) fs.symlinkSync(path.join(REPO, entry), link);
    }
    const envVars: Record<string, string> = {
        PATH: `${binDir}:${process.env.PATH ?? ""}`,
        PULUMI_HOME: home,
        PULUMI_BACKEND_URL: `file://${stateDir}`,
        PULUMI_CONFIG_PASSPHRASE: "e2e-bed-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        // `npm test` type-checks the program; here ts-node only transpiles (2 cores).
        PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    };
    return { home, stateDir, projectDir, envVars };
}

export async function openStack(env: PulumiEnv, cliRoot: string, stackName: string): Promise<Stack> {
    const pulumiCommand = await PulumiCommand.get({ root: cliRoot });
    return LocalWorkspace.createOrSelectStack(
        { stackName, workDir: env.projectDir },
        { workDir: env.projectDir, pulumiHome: env.home, envVars: env.envVars, pulumiCommand },
    );
}

/**
 * Replaces the stack's config with `config` (the YAML form the README shows), keeping the stack file's
 * other keys (the passphrase salt). The file lives in the temporary project directory.
 */
export function writeStackConfig(env: PulumiEnv, stackName: string, config: Record<string, unknown>): void {
    const file = path.join(env.projectDir, `Pulumi.${stackName}.yaml`);
    const doc = fs.existsSync(file) ? (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) : {};
    doc.config = config;
    fs.writeFileSync(file, stringify(doc));
}

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

/** The existing-clusters stack the suite deploys: 3 clusters, 2 networks, helloworld samples. */
export function meshConfig(o: MeshConfigOptions): Record<string, unknown> {
    const p = (k: string) => `istio-multicluster:${k}`;
    return {
        ...clustersConfig(o),
        [p("samples")]: {
            helloworld: { enabled: true },
            // Bookinfo's ingress gateway needs a load balancer or a browser; helloworld is enough for the bed.
            bookinfo: { enabled: false },
            // Under kwok no container runs: the Jobs "complete" because kwok says so, not because traffic
            // crossed clusters. They are kept (they are part of the program) and not counted as evidence.
            verification: { enabled: true, rounds: 1, requestsPerRound: 1, intervalSeconds: 0 },
        },
        [p("ca")]: { allowRootRotation: o.allowRootRotation ?? false },
        ...(o.extra ?? {}),
    };
}
