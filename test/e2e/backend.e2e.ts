/**
 * The real Pulumi CLI alone (the bed's build from Go modules; no Kubernetes needed). Where the state goes: the CLI
 * picks `PULUMI_BACKEND_URL`, then the project's `backend.url`, then `pulumi login`. Pulumi.yaml says
 * `backend.url: file://~`, so
 * - on a laptop (never logged in, no variable) `pulumi stack init` and `pulumi up` keep the state in `~/.pulumi`;
 * - the GitHub workflows, run with their own job environment (read from .github/workflows/, with the repository
 *   variables pointing at file:// directories standing in for the buckets), reach the shared state that the stacks
 *   were bootstrapped in as docs/safety.md says, whatever the runner logged in to;
 * - the CLI's typed config (Pulumi.yaml) lets a misspelt `meshID` reach the program, whose message says
 *   "did you mean meshId" (and how to set a flat `clusters[0].network` with --path);
 * - the README's cleanup works: `pulumi destroy` deletes all but the protected root and fails naming it, then
 *   `pulumi state unprotect --all`, `pulumi destroy` and `pulumi stack rm --preserve-config` leave nothing.
 *
 * `file://~` is the home of the user in /etc/passwd (Go's user.Current), not $HOME: every CLI call here runs in a
 * mount namespace of its own (`unshare --mount`, root) with the user's `~/.pulumi` replaced by a directory of the
 * test, so nothing is read from or written to the real one. `pulumi up` and `preview` run inline programs through
 * the Automation API (there is no Node.js language host here); PULUMI_HOME is the test's, update checks and plugin
 * downloads are off, every backend is a file:// directory: nothing leaves the machine.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, PulumiFn, Stack } from "@pulumi/pulumi/automation";
import { parse } from "yaml";

const REPO = path.resolve(__dirname, "..", "..");
const PROJECT = "istio-multicluster";
const PASSPHRASE = "backend-e2e-passphrase";
const cacheDir = () => process.env.ISTIO_MC_BED_CACHE ?? path.join(os.homedir(), ".cache", "istio-multicluster-bed");
const pulumiVersion = () => /^PULUMI_VERSION=(\S+)/m.exec(fs.readFileSync(path.join(REPO, "test/e2e/bed/versions.env"), "utf8"))![1];

let root: string;
/** The user's ~/.pulumi, as the CLI resolves `file://~`, and what the test mounts over it. */
let userDotPulumi: string;
let createdUserDotPulumi = false;
let laptopDotPulumi: string;
/** A directory whose bin/pulumi is the real CLI, run in a mount namespace with laptopDotPulumi over userDotPulumi. */
let cliRoot: string;
let pulumiCommand: PulumiCommand;
const savedEnv: Record<string, string | undefined> = {};

beforeAll(async () => {
    const realCli = path.join(cacheDir(), `pulumi-${pulumiVersion()}`, "bin", "pulumi");
    if (!fs.existsSync(realCli)) throw new Error(`${realCli} is missing: build it with test/e2e/bed/build.sh (piece pulumi)`);
    if (process.getuid?.() !== 0) throw new Error("backend.e2e.ts runs each CLI call in a mount namespace of its own (to stand in for ~/.pulumi): that needs root");
    root = fs.mkdtempSync(path.join(os.tmpdir(), "backend-e2e-"));
    // os.userInfo() reads the passwd entry, as Go's user.Current does.
    userDotPulumi = path.join(os.userInfo().homedir, ".pulumi");
    if (!fs.existsSync(userDotPulumi)) {
        fs.mkdirSync(userDotPulumi, { mode: 0o700 });
        createdUserDotPulumi = true;
    }
    laptopDotPulumi = mkdir("laptop-dot-pulumi");
    cliRoot = mkdir("cli");
    mkdir("cli/bin");
    const wrapper = path.join(cliRoot, "bin", "pulumi");
    fs.writeFileSync(
        wrapper,
        [
            "#!/bin/sh",
            "# The real CLI, with the user's ~/.pulumi replaced by the test's directory, in a mount namespace of this call only.",
            `exec unshare --mount --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh ${q(laptopDotPulumi)} ${q(userDotPulumi)} ${q(realCli)} "$@"`,
            "",
        ].join("\n"),
        { mode: 0o755 },
    );
    // The CLI must see only what each test gives it.
    for (const key of Object.keys(process.env).filter((k) => k.startsWith("PULUMI_"))) {
        savedEnv[key] = process.env[key];
        delete process.env[key];
    }
    pulumiCommand = await PulumiCommand.get({ root: cliRoot, skipVersionCheck: true });
    expect(pulumiCommand.version?.toString()).toBe(pulumiVersion());
});

afterAll(() => {
    for (const [key, value] of Object.entries(savedEnv)) if (value !== undefined) process.env[key] = value;
    if (root) fs.rmSync(root, { recursive: true, force: true });
    if (createdUserDotPulumi && fs.readdirSync(userDotPulumi).length === 0) fs.rmdirSync(userDotPulumi);
});

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const mkdir = (rel: string) => {
    const dir = path.join(root, rel);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
};

/** A checkout of the project: Pulumi.yaml and the committed stack files (the CLI also wants `main` to exist). */
function checkout(name: string, stackFiles: Record<string, string> = {}): string {
    const dir = mkdir(name);
    for (const file of ["Pulumi.yaml", "Pulumi.azure.yaml", "Pulumi.aws.yaml"]) fs.copyFileSync(path.join(REPO, file), path.join(dir, file));
    for (const [file, text] of Object.entries(stackFiles)) fs.writeFileSync(path.join(dir, file), text);
    fs.writeFileSync(path.join(dir, "index.ts"), "");
    return dir;
}

/** The environment of a CLI call: a PULUMI_HOME of the test (a fresh one has never logged in), nothing inherited. */
function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        PULUMI_HOME: path.join(root, "pulumi-home"),
        PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        ...extra,
    };
}

function cli(cwd: string, args: string[], env: Record<string, string>): string {
    const r = spawnSync(path.join(cliRoot, "bin", "pulumi"), [...args, "--non-interactive"], { cwd, env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

/** Stacks of this project under a `.pulumi` directory: `file://<dir>` keeps them in <dir>/.pulumi, `file://~` in ~/.pulumi. */
const stacksUnder = (dotPulumi: string) => {
    const dir = path.join(dotPulumi, "stacks", PROJECT);
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => f.replace(/\.json$/, "")).sort() : [];
};
const stacksIn = (backendDir: string) => stacksUnder(path.join(backendDir, ".pulumi"));
const laptopStacks = () => stacksUnder(laptopDotPulumi);
const checkpoint = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));

/** An inline program that declares nothing and says which platform the stack config names. */
const platformProgram: PulumiFn = async () => ({ platform: new pulumi.Config().get("platform") ?? "existing" });

async function workspaceStack(dir: string, stackName: string, env: Record<string, string>, program: PulumiFn, create: boolean): Promise<Stack> {
    const args = { stackName, projectName: PROJECT, program };
    const opts = { workDir: dir, envVars: env, pulumiCommand };
    return create ? LocalWorkspace.createOrSelectStack(args, opts) : LocalWorkspace.selectStack(args, opts);
}

describe("state backends with the real CLI", () => {
    test("on a laptop, never logged in and no PULUMI_BACKEND_URL: stack init and up keep the state in ~/.pulumi (Pulumi.yaml's file://~)", async () => {
        const dir = checkout("laptop");
        cli(dir, ["stack", "init", "lab"], cliEnv());
        expect(laptopStacks()).toEqual(["lab"]);
        const stack = await workspaceStack(dir, "lab", cliEnv(), async () => ({ where: "laptop" }), false);
        const up = await stack.up();
        expect(up.summary.result).toBe("succeeded");
        expect(up.outputs.where.value).toBe("laptop");
        const state = checkpoint(path.join(laptopDotPulumi, "stacks", PROJECT, "lab.json"));
        expect(JSON.stringify(state.checkpoint.latest.resources)).toContain('"where":"laptop"');
        // A later `pulumi login` elsewhere does not move it: the project's backend.url wins over a login.
        const elsewhere = mkdir("logged-in-elsewhere");
        cli(dir, ["login", `file://${elsewhere}`], cliEnv());
        expect(cli(dir, ["stack", "ls", "--json"], cliEnv())).toContain('"name": "lab"');
        expect(stacksIn(elsewhere)).toEqual([]);
        cli(dir, ["logout"], cliEnv());
    });

    test("CI: each workflow job, run with its own environment, finds the stack bootstrapped in the shared backend, whatever the runner logged in to", async () => {
        const shared = { azure: mkdir("shared-azure"), aws: mkdir("shared-aws") };
        const vars: Record<string, string> = {
            PULUMI_BACKEND_URL_AZURE: `file://${shared.azure}`,
            PULUMI_BACKEND_URL_AWS: `file://${shared.aws}`,
            AZURE_LOCATION: "westeurope",
            AWS_REGION: "eu-west-1",
        };
        const secrets: Record<string, string> = { PULUMI_CONFIG_PASSPHRASE: PASSPHRASE };

        // Bootstrapping (docs/safety.md): once, by a person, each stack created in its shared backend; the stack
        // file `pulumi stack init` completes (encryptionsalt) is committed.
        const bootstrap = checkout("bootstrap");
        const committed: Record<string, string> = {};
        for (const stack of ["azure", "aws"] as const) {
            const env = cliEnv({ PULUMI_BACKEND_URL: vars[`PULUMI_BACKEND_URL_${stack.toUpperCase()}`] });
            cli(bootstrap, ["stack", "init", stack], env);
            cli(bootstrap, ["config", "set", "--secret", "bootstrapCheck", "only-this-salt-decrypts-it", "--stack", stack], env);
            committed[`Pulumi.${stack}.yaml`] = fs.readFileSync(path.join(bootstrap, `Pulumi.${stack}.yaml`), "utf8");
            expect(committed[`Pulumi.${stack}.yaml`]).toMatch(/^encryptionsalt: v1:/m);
            expect(stacksIn(shared[stack])).toEqual([stack]);
        }

        let jobsRun = 0;
        for (const workflow of ["preview.yml", "deploy.yml", "rotation.yml"]) {
            const wf = parse(fs.readFileSync(path.join(REPO, ".github/workflows", workflow), "utf8"));
            for (const [id, job] of Object.entries(wf.jobs as Record<string, any>)) {
                const step = (job.steps as any[]).find((s) => typeof s.uses === "string" && s.uses.startsWith("pulumi/actions@"));
                // The rotation workflow's opt-in `up` job takes its stacks from a variable: its environment is
                // checked in test/package/workflows.test.ts; the jobs here cover every other Pulumi step.
                if (!step || !job.strategy?.matrix?.include) continue;
                for (const matrix of job.strategy.matrix.include as Record<string, string>[]) {
                    const where = `${workflow} ${id} ${matrix.stack}`;
                    const ctx = { matrix, vars, secrets };
                    const jobEnv = Object.fromEntries(Object.entries(job.env ?? {}).map(([k, v]) => [k, resolve(String(v), ctx)]));
                    const withs = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, resolve(String(v), ctx)]));
                    // A fresh runner: a new checkout with the committed stack files, a new PULUMI_HOME.
                    const runner = checkout(`runner-${jobsRun}`, committed);
                    const env = cliEnv({ ...jobEnv, PULUMI_HOME: mkdir(`runner-${jobsRun}-pulumi-home`) });
                    // What pulumi/actions does before it selects the stack: log in to `cloud-url`, if the step gives one.
                    if (withs["cloud-url"]) cli(runner, ["login", withs["cloud-url"]], env);
                    let stack: Stack;
                    try {
                        stack = await workspaceStack(runner, withs["stack-name"], env, platformProgram, false);
                    } catch (e) {
                        throw new Error(`${where}: the job does not find its stack: ${(e as Error).message.slice(0, 600)}`);
                    }
                    expect({ where, backend: (await stack.workspace.whoAmI()).url }).toEqual({ where, backend: vars[`PULUMI_BACKEND_URL_${matrix.stack.toUpperCase()}`] });
                    if (withs.command === "up") {
                        const up = await stack.up({ refresh: withs.refresh === "true" });
                        expect({ where, platform: up.outputs.platform.value }).toEqual({ where, platform: matrix.stack });
                    } else {
                        await stack.preview({ refresh: withs.refresh === "true" });
                    }
                    // The committed salt decrypts what the bootstrap encrypted.
                    expect(cli(runner, ["config", "get", "bootstrapCheck", "--stack", matrix.stack], env).trim()).toBe("only-this-salt-decrypts-it");
                    jobsRun++;
                }
            }
        }
        expect(jobsRun).toBe(6);
        expect(stacksIn(shared.azure)).toEqual(["azure"]);
        expect(stacksIn(shared.aws)).toEqual(["aws"]);
        // deploy.yml's up wrote the shared state, not the runner's home.
        expect(JSON.stringify(checkpoint(path.join(shared.azure, ".pulumi", "stacks", PROJECT, "azure.json")).checkpoint.latest.resources)).toContain('"platform":"azure"');
        expect(laptopStacks()).not.toContain("azure");
    });

    test("a misspelt meshId and a path set without --path reach the program's own messages: the CLI's typed config does not stop them first", async () => {
        const dir = checkout("typo");
        const env = cliEnv({ PULUMI_BACKEND_URL: `file://${mkdir("typo-state")}` });
        cli(dir, ["stack", "init", "typo"], env);
        cli(dir, ["config", "set", "meshID", "mesh1", "--stack", "typo"], env);
        cli(dir, ["config", "set", "--path", "clusters[0].name", "cluster1", "--stack", "typo"], env);
        cli(dir, ["config", "set", "clusters[0].network", "network1", "--stack", "typo"], env);
        const stack = await workspaceStack(dir, "typo", env, meshProgram, false);
        const failure = await stack.preview().then(
            () => undefined,
            (e: Error) => e.message,
        );
        expect(failure).toBeDefined();
        expect(failure).not.toMatch(/missing (required )?configuration/i);
        expect(failure).toContain('istio-multicluster:meshID: unknown setting; did you mean "meshId"?');
        expect(failure).toContain("istio-multicluster:meshId: is required");
        expect(failure).toContain("istio-multicluster:clusters[0].network: set without --path");
        expect(failure).toContain("`pulumi config set --path 'clusters[0].network' <value>`");
    });
});

describe("cleanup as the README gives it, with the real CLI", () => {
    test("destroy deletes everything but the protected root and fails naming it; unprotect, destroy and stack rm then leave nothing, the stack file kept", async () => {
        const dir = checkout("cleanup");
        const env = cliEnv({ PULUMI_BACKEND_URL: `file://${mkdir("cleanup-state")}` });
        // The program's shape where it matters here: a protected root key and certificate, and what depends on them.
        const program: PulumiFn = async () => {
            const key = new pulumi.ComponentResource("cleanup:index:RootKey", "mesh-ca-root", {}, { protect: true });
            const cert = new pulumi.ComponentResource("cleanup:index:RootCert", "mesh-ca-root-cert", {}, { protect: true, dependsOn: [key] });
            new pulumi.ComponentResource("cleanup:index:Istiod", "mesh-cluster1-istiod", {}, { dependsOn: [cert] });
            return {};
        };
        const stack = await workspaceStack(dir, "lab", env, program, true);
        cli(dir, ["config", "set", "meshId", "mesh1", "--stack", "lab"], env);
        expect((await stack.up()).summary.resourceChanges).toEqual({ create: 4 });
        const names = async () => ((await stack.exportStack()).deployment.resources ?? []).map((r: { urn: string }) => r.urn.split("::").pop()).sort();

        // `pulumi destroy --stack <stack>`: the rest goes, then the protected root stops it.
        const destroy = await stack.destroy().then(
            () => undefined,
            (e: Error) => e.message,
        );
        expect(destroy).toMatch(/protected/);
        expect(destroy).toMatch(/mesh-ca-root/);
        expect(await names()).toEqual(["istio-multicluster-lab", "mesh-ca-root", "mesh-ca-root-cert"]);

        // The README's commands.
        cli(dir, ["state", "unprotect", "--all", "--yes", "--stack", "lab"], env);
        await stack.destroy();
        expect(await names()).toEqual([]);
        cli(dir, ["stack", "rm", "lab", "--preserve-config", "--yes"], env);
        expect(cli(dir, ["stack", "ls", "--json"], env).trim()).toBe("[]");
        expect(fs.readFileSync(path.join(dir, "Pulumi.lab.yaml"), "utf8")).toContain("istio-multicluster:meshId: mesh1");
    });
});

/**
 * What index.ts runs, inline: the checks fail before anything is declared, so no provider is needed. The error is
 * reported as an error diagnostic (which fails the update, as the thrown error does for index.ts) rather than thrown:
 * thrown inside jest, the SDK's rejected promises also reach jest's own handlers, which fail the test for it.
 */
const meshProgram: PulumiFn = async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { deploy, stackOutputs } = require(path.join(REPO, "stacks/deploy")) as typeof import("../../stacks/deploy");
    try {
        return stackOutputs(deploy(pulumi.runtime.allConfig()));
    } catch (e) {
        pulumi.log.error((e as Error).message);
        return {};
    }
};

/** The GitHub expressions the workflows' Pulumi jobs use: `${{ matrix.x }}`, `${{ vars.x }}`, `${{ secrets.x }}`. */
function resolve(text: string, ctx: { matrix: Record<string, string>; vars: Record<string, string>; secrets: Record<string, string> }): string {
    const once = (t: string) =>
        t.replace(/\$\{\{\s*(matrix|vars|secrets)\.([A-Za-z0-9_-]+)\s*\}\}/g, (_m, scope: "matrix" | "vars" | "secrets", key: string) => {
            const value = ctx[scope][key];
            if (value === undefined) throw new Error(`no ${scope}.${key} in this test's repository settings`);
            return value;
        });
    // A matrix value may itself be an expression (backend: ${{ vars.PULUMI_BACKEND_URL_AZURE }}).
    const resolved = once(once(text));
    if (resolved.includes("${{")) throw new Error(`expression not modelled: ${text}`);
    return resolved;
}
