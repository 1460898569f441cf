/** The GitHub workflows users get: valid, and doing what the README says they do. */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { validateWorkflow } from "@action-validator/core";

const dir = path.join(__dirname, "..", "..", ".github", "workflows");
const read = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");
const steps = (job: any) => job.steps as any[];
const uses = (job: any, action: string) => steps(job).filter((s) => typeof s.uses === "string" && s.uses.startsWith(action));

const WORKFLOWS = ["preview.yml", "deploy.yml", "rotation.yml"];

test.each(WORKFLOWS)("%s is a valid workflow", (name) => {
    const state = validateWorkflow(read(name));
    expect(state.errors).toEqual([]);
});

test("the validator does catch a broken workflow", () => {
    expect(validateWorkflow("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n").errors.length).toBeGreaterThan(0);
});

describe("preview.yml", () => {
    const wf = parse(read("preview.yml"));
    test("runs on pull requests, with OIDC and PR comments allowed and nothing else", () => {
        expect(Object.keys(wf.on)).toEqual(["pull_request"]);
        expect(wf.permissions).toEqual({ contents: "read", "pull-requests": "write", "id-token": "write" });
    });
    test("tests first: npm ci, then npm test", () => {
        expect(steps(wf.jobs.test).filter((s) => s.run).map((s) => s.run)).toEqual(["npm ci", "npm test"]);
        expect(wf.jobs.preview.needs).toBe("test");
    });
    test("previews both stacks with the policy pack, diff posted on the PR", () => {
        expect(wf.jobs.preview.strategy.matrix.include.map((m: any) => m.stack)).toEqual(["azure", "aws"]);
        const [pulumi] = uses(wf.jobs.preview, "pulumi/actions@");
        expect(pulumi.with).toMatchObject({ command: "preview", "stack-name": "${{ matrix.stack }}", "comment-on-pr": true, policyPacks: "policy" });
    });
    test("cloud login through OIDC, once per cloud", () => {
        expect(uses(wf.jobs.preview, "azure/login@")[0]).toMatchObject({ if: "matrix.stack == 'azure'" });
        expect(uses(wf.jobs.preview, "aws-actions/configure-aws-credentials@")[0].with["role-to-assume"]).toBe("${{ vars.AWS_ROLE_ARN }}");
    });
});

describe("deploy.yml", () => {
    const wf = parse(read("deploy.yml"));
    test("runs on main only, behind an environment per stack", () => {
        expect(wf.on).toEqual({ push: { branches: ["main"] } });
        expect(wf.jobs.up.environment).toBe("${{ matrix.stack }}");
        expect(wf.jobs.up.needs).toBe("test");
        const [pulumi] = uses(wf.jobs.up, "pulumi/actions@");
        expect(pulumi.with).toMatchObject({ command: "up", policyPacks: "policy" });
    });
});

test("pulumi/actions is v7 (v6 is no longer maintained) in every workflow", () => {
    for (const name of WORKFLOWS) {
        const wf = parse(read(name));
        const all = Object.values(wf.jobs).flatMap((job: any) => uses(job, "pulumi/actions@"));
        expect(all.length).toBeGreaterThan(0);
        for (const step of all) expect(step.uses).toBe("pulumi/actions@v7");
    }
});

test("no credentials are written into the workflows", () => {
    for (const name of WORKFLOWS) {
        const text = read(name);
        expect(text).not.toMatch(/AKIA[0-9A-Z]{16}/);
        expect(text).not.toMatch(/client-secret|aws-secret-access-key|PULUMI_ACCESS_TOKEN/);
        // Secrets only come from the secrets context.
        expect(text).toMatch(/PULUMI_CONFIG_PASSPHRASE: \$\{\{ secrets\.PULUMI_CONFIG_PASSPHRASE \}\}/);
    }
});

test("every job that runs Pulumi reaches the shared state through PULUMI_BACKEND_URL, which beats Pulumi.yaml's backend.url", () => {
    // The CLI picks PULUMI_BACKEND_URL, then the project's backend.url (file://~ here), then `pulumi login`: a login
    // (the action's cloud-url) never takes effect. test/e2e/backend.e2e.ts shows it with the real CLI.
    const project = parse(fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.yaml"), "utf8"));
    expect(project.backend).toEqual({ url: "file://~" });
    let jobs = 0;
    for (const name of WORKFLOWS) {
        for (const [id, job] of Object.entries(parse(read(name)).jobs as Record<string, any>)) {
            const pulumiSteps = uses(job, "pulumi/actions@");
            if (pulumiSteps.length === 0) continue;
            jobs++;
            const where = `${name} ${id}`;
            expect({ where, backend: job.env?.PULUMI_BACKEND_URL }).toEqual({ where, backend: expect.stringMatching(/vars\.PULUMI_BACKEND_URL_|matrix\.backend/) });
            for (const step of pulumiSteps) expect({ where, cloudUrl: step.with["cloud-url"] }).toEqual({ where, cloudUrl: undefined });
            // Each stack's own backend variable.
            for (const entry of job.strategy?.matrix?.include ?? []) expect(entry.backend).toBe(`\${{ vars.PULUMI_BACKEND_URL_${entry.stack.toUpperCase()} }}`);
        }
    }
    expect(jobs).toBe(4);
});

describe("rotation.yml", () => {
    const wf = parse(read("rotation.yml"));
    test("runs every day (and by hand), never beside a deploy", () => {
        expect(Object.keys(wf.on).sort()).toEqual(["schedule", "workflow_dispatch"]);
        expect(wf.on.schedule[0].cron).toMatch(/^\d+ \d+ \* \* \*$/);
        expect(wf.concurrency.group).toBe(parse(read("deploy.yml")).concurrency.group);
        expect(wf.permissions).toEqual({ contents: "read", "id-token": "write" });
    });
    test("previews both stacks with a refresh (so a certificate due for early renewal shows) and the policy pack", () => {
        expect(wf.jobs.preview.strategy.matrix.include.map((m: any) => m.stack)).toEqual(["azure", "aws"]);
        const [pulumi] = uses(wf.jobs.preview, "pulumi/actions@");
        expect(pulumi.with).toMatchObject({ command: "preview", refresh: true, policyPacks: "policy" });
    });
    test("applies only the stacks the user opted in, each behind its environment", () => {
        expect(wf.jobs.up.needs).toBe("preview");
        expect(wf.jobs.up.if).toBe("${{ vars.ROTATION_APPLY_STACKS != '' }}");
        expect(wf.jobs.up.strategy.matrix.stack).toBe("${{ fromJSON(vars.ROTATION_APPLY_STACKS) }}");
        expect(wf.jobs.up.environment).toBe("${{ matrix.stack }}");
        const [pulumi] = uses(wf.jobs.up, "pulumi/actions@");
        expect(pulumi.with).toMatchObject({ command: "up", refresh: true, policyPacks: "policy" });
    });
});
