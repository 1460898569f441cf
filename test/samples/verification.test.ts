/**
 * The verification built into `pulumi up`: the check script's pass/fail logic, run for real by bash and
 * dash against a fake `curl` on PATH printing canned answers; and the Jobs' wiring (cluster, provider, what
 * they wait for, what they expect, how their results are read).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Declared, RunResult, asDeclared, dependsOn, kubernetesObject, one, providerUrn, runProgram } from "../support/harness";
import { existingStack, THREE_CLUSTERS_TWO_NETWORKS, TWO_CLUSTERS_ONE_NETWORK } from "../support/fixtures";
import { validateObject } from "../support/schemas";
import { VERIFY_SCRIPT, jobDeadlineSeconds, verificationJob, TRIGGER_ANNOTATION } from "../../components/samples/meshVerification";

// ---- running the script against a fake curl -------------------------------------------------------

const FAKE_CURL = `#!/bin/bash
# A stand-in for curl: answers from a schedule of canned responses, one per call, cycling.
# Only bash builtins: the checks make hundreds of calls, and every extra process adds up.
dir="$FAKE_CURL_DIR"
for a in "$@"; do case "$a" in *quitquitquit*) echo "$*" >> "$dir/quit"; exit 0 ;; esac; done
printf '%s\\n' "$*" >> "$dir/calls"
n=0; [ -f "$dir/count" ] && read -r n < "$dir/count"
echo $((n + 1)) > "$dir/count"
mapfile -t schedule < "$dir/schedule"
key=\${schedule[n % \${#schedule[@]}]}
case "$key" in
  FAIL:*) code=\${key#FAIL:}; code=\${code%%:*}; echo "curl: (\${code}) \${key#FAIL:*:}" >&2; exit "$code" ;;
  *) IFS= read -r -d '' body < "$dir/responses/$key"; printf '%s' "$body" ;;
esac
`;

const hello = (version: string, pod = `helloworld-${version}-7d9f8b6c4-x2x9z`) => `Hello version: ${version}, instance: ${pod}\n`;

/** What productpage renders for the reviews part (Istio's productpage.html since 2024), for one reviews pod. */
const productpage = (cluster: string | null, pod = "reviews-v2-5b667bcbf8-abcde") => {
    const servedBy = (reviewer: string) => `
            <div class="text-sm leading-6">
                <div class="font-semibold text-gray-900">${reviewer}</div>
                <div class="mt-0.5 text-gray-600 font-mono">Reviews served by: 
                  ${pod}
                  ${cluster === null ? "" : `\n                  on cluster <div>${cluster}</div>\n`}
                </div>
              </div>`;
    return `<!DOCTYPE html>\n<html><head><title>Simple Bookstore App</title></head><body>\n<h4>Book Reviews</h4>${servedBy("Reviewer1")}${servedBy("Reviewer2")}\n</body></html>\n`;
};
const PRODUCTPAGE_REVIEWS_ERROR = `<html><body>\n<p class="text-2xl text-red-500">Error fetching product reviews</p>\n<p>Sorry, product reviews are currently unavailable for this book.</p>\n</body></html>\n`;

interface ScriptRun {
    code: number | null;
    stdout: string;
    stderr: string;
    /** The last line of stdout (the summary). */
    summary: string;
    /** What the script wrote to its result file (the container's termination message in a pod). */
    result: string;
    calls: string[];
    quit: boolean;
}

/** Runs VERIFY_SCRIPT with `shell`, a fake curl answering `schedule` (keys into `responses`), and `env`. */
function runScript(shell: string, responses: Record<string, string>, schedule: string[], env: Record<string, string>, script = VERIFY_SCRIPT): ScriptRun {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-"));
    try {
        fs.mkdirSync(path.join(dir, "bin"));
        fs.mkdirSync(path.join(dir, "responses"));
        fs.writeFileSync(path.join(dir, "bin", "curl"), FAKE_CURL, { mode: 0o755 });
        for (const [k, v] of Object.entries(responses)) fs.writeFileSync(path.join(dir, "responses", k), v);
        fs.writeFileSync(path.join(dir, "schedule"), schedule.join("\n") + "\n");
        fs.writeFileSync(path.join(dir, "verify.sh"), script);
        const resultFile = path.join(dir, "result");
        const p = spawnSync(shell, [path.join(dir, "verify.sh")], {
            encoding: "utf8",
            timeout: 60000,
            env: {
                PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
                FAKE_CURL_DIR: dir,
                RESULT_FILE: resultFile,
                INTERVAL: "0",
                ...env,
            },
        });
        const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), "utf8") : "");
        const lines = p.stdout.trim().split("\n");
        return {
            code: p.status,
            stdout: p.stdout,
            stderr: p.stderr,
            summary: lines[lines.length - 1],
            result: fs.existsSync(resultFile) ? fs.readFileSync(resultFile, "utf8") : "",
            calls: read("calls").trim().split("\n").filter(Boolean),
            quit: read("quit") !== "",
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const HELLO = { v1: hello("v1"), v2: hello("v2"), v3: hello("v3") };
const hwEnv = (cluster: string, expected: string, extra: Record<string, string> = {}) => ({
    CHECK: "helloworld",
    CLUSTER: cluster,
    URL: "http://helloworld.sample:5000/hello",
    EXPECTED: expected,
    ROUNDS: "5",
    REQUESTS: "10",
    ...extra,
});
const alternate = (keys: string[], n: number) => Array.from({ length: n }, (_, i) => keys[i % keys.length]);

const SHELLS = ["bash", "dash"].filter((s) => spawnSync(s, ["-c", "true"]).status === 0);

test("the shells the script is tested with are present (dash stands in for the curl image's busybox sh)", () => {
    expect(SHELLS).toEqual(["bash", "dash"]);
});

describe.each(SHELLS)("helloworld check under %s", (shell) => {
    test("passes when both versions answer, and says so in one line", () => {
        const r = runScript(shell, HELLO, alternate(["v1", "v2"], 10), hwEnv("cluster1", "v1 v2"));
        expect(r.code).toBe(0);
        expect(r.summary).toBe("PASS helloworld cluster=cluster1: saw v1:5,v2:5, expected v1,v2; errors 0/10; round 1/5");
        expect(r.result.trim()).toBe(r.summary);
        expect(r.calls).toHaveLength(10);
        expect(r.calls[0]).toBe("-sS --max-time 3 http://helloworld.sample:5000/hello");
        expect(r.quit).toBe(false);
    });

    test("fails when only v1 is seen from cluster2, naming the cluster and what it saw", () => {
        const r = runScript(shell, HELLO, ["v1"], hwEnv("cluster2", "v1 v2"));
        expect(r.code).toBe(1);
        expect(r.summary).toBe(
            "FAIL helloworld cluster=cluster2: saw v1:10, expected v1,v2 (missing v2; unexpected -); errors 0/10; after 5 rounds, all rounds saw v1:50; last error: -",
        );
        expect(r.result.trim()).toBe(r.summary);
        expect(r.calls).toHaveLength(50);
        // One progress line per round, then the summary.
        expect(r.stdout.match(/^round \d\/5 cluster=cluster2 seen=v1:10 missing=v2 unexpected=- errors=0\/10$/gm)).toHaveLength(5);
    });

    test("retries while endpoint discovery converges: v1 only for two rounds, then both", () => {
        const schedule = [...Array(20).fill("v1"), ...alternate(["v1", "v2"], 10)];
        const r = runScript(shell, HELLO, schedule, hwEnv("cluster1", "v1 v2"));
        expect(r.code).toBe(0);
        expect(r.summary).toMatch(/^PASS helloworld cluster=cluster1: saw v1:5,v2:5, expected v1,v2; errors 0\/10; round 3\/5$/);
        expect(r.calls).toHaveLength(30);
    });

    test("is bounded: gives up after ROUNDS rounds of REQUESTS requests", () => {
        const r = runScript(shell, HELLO, ["v2"], hwEnv("cluster1", "v1 v2", { ROUNDS: "3", REQUESTS: "4" }));
        expect(r.code).toBe(1);
        expect(r.calls).toHaveLength(12);
        expect(r.summary).toMatch(/after 3 rounds, all rounds saw v2:12/);
    });

    test("cluster-local routing: only the local version may answer; a remote answer is a failure", () => {
        const local = runScript(shell, HELLO, ["v1"], hwEnv("cluster1", "v1"));
        expect(local.code).toBe(0);
        expect(local.summary).toMatch(/^PASS helloworld cluster=cluster1: saw v1:10, expected v1;/);
        const leaking = runScript(shell, HELLO, alternate(["v1", "v1", "v1", "v2"], 40), hwEnv("cluster1", "v1"));
        expect(leaking.code).toBe(1);
        expect(leaking.summary).toMatch(/^FAIL helloworld cluster=cluster1: saw v1:\d+,v2:\d+, expected v1 \(missing -; unexpected v2\)/);
    });

    test("three clusters: all of v1, v2 and v3 must answer", () => {
        expect(runScript(shell, HELLO, alternate(["v1", "v2", "v3"], 9), hwEnv("cluster3", "v1 v2 v3")).code).toBe(0);
        const r = runScript(shell, HELLO, alternate(["v1", "v3"], 10), hwEnv("cluster3", "v1 v2 v3"));
        expect(r.code).toBe(1);
        expect(r.summary).toMatch(/^FAIL helloworld cluster=cluster3: saw v1:5,v3:5, expected v1,v2,v3 \(missing v2; unexpected -\)/);
    });

    test("failed requests are counted and the last error is reported; they do not hide a pass", () => {
        const responses = { ...HELLO, noupstream: "no healthy upstream" };
        const failing = runScript(shell, responses, ["FAIL:7:Failed to connect to helloworld.sample port 5000", "noupstream"], hwEnv("cluster2", "v1 v2"));
        expect(failing.code).toBe(1);
        expect(failing.summary).toMatch(/^FAIL helloworld cluster=cluster2: saw -, expected v1,v2 \(missing v1,v2; unexpected -\); errors 10\/10;/);
        expect(failing.summary).toMatch(/last error: unrecognised answer: no healthy upstream$/);
        const curlError = runScript(shell, responses, ["FAIL:28:Operation timed out after 3000 milliseconds"], hwEnv("cluster2", "v1 v2", { ROUNDS: "1" }));
        expect(curlError.summary).toMatch(/last error: curl: \(28\) Operation timed out after 3000 milliseconds$/);
        const flaky = runScript(shell, responses, alternate(["v1", "FAIL:56:reset", "v2"], 30), hwEnv("cluster1", "v1 v2"));
        expect(flaky.code).toBe(0);
        expect(flaky.summary).toMatch(/^PASS .* errors 3\/10; round 1\/5$/);
    });

    test("asks the Istio proxy to exit when QUIT_PROXY is true, after passing or failing", () => {
        expect(runScript(shell, HELLO, alternate(["v1", "v2"], 10), hwEnv("c", "v1 v2", { QUIT_PROXY: "true" })).quit).toBe(true);
        const failed = runScript(shell, HELLO, ["v1"], hwEnv("c", "v1 v2", { QUIT_PROXY: "true", ROUNDS: "1" }));
        expect(failed.quit).toBe(true);
        expect(failed.code).toBe(1);
    });

    test("refuses to run without its inputs", () => {
        const r = runScript(shell, HELLO, ["v1"], { CHECK: "helloworld", CLUSTER: "c", URL: "http://x" });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/EXPECTED/);
        const bad = runScript(shell, HELLO, ["v1"], { ...hwEnv("c", "v1"), CHECK: "ping" });
        expect(bad.code).toBe(2);
        expect(bad.summary).toBe("FAIL ping cluster=c: unknown check");
    });
});

describe.each(SHELLS)("bookinfo check under %s", (shell) => {
    const responses = {
        c2: productpage("cluster2"),
        c2v3: productpage("cluster2", "reviews-v3-6f9b8c7d5-qwert"),
        c3: productpage("cluster3", "reviews-v1-77d8d5c6b-zzzzz"),
        c1: productpage("cluster1"),
        anonymous: productpage(null),
        error: PRODUCTPAGE_REVIEWS_ERROR,
    };
    const env = (expected: string, extra: Record<string, string> = {}) => ({
        CHECK: "bookinfo",
        CLUSTER: "cluster1",
        URL: "http://istio-ingressgateway.istio-system.svc.cluster.local/productpage",
        EXPECTED: expected,
        ROUNDS: "4",
        REQUESTS: "6",
        ...extra,
    });

    test("passes when productpage shows reviews served from the other cluster", () => {
        const r = runScript(shell, responses, alternate(["c2", "c2v3"], 6), env("cluster2"));
        expect(r.code).toBe(0);
        expect(r.summary).toBe("PASS bookinfo cluster=cluster1: saw cluster2:6, expected cluster2; errors 0/6; round 1/4");
    });

    test("fails while reviews cannot be fetched, saying so", () => {
        const r = runScript(shell, responses, ["error"], env("cluster2"));
        expect(r.code).toBe(1);
        expect(r.summary).toMatch(/^FAIL bookinfo cluster=cluster1: saw -, expected cluster2 \(missing cluster2; unexpected -\); errors 6\/6; after 4 rounds, all rounds saw -; last error: unrecognised answer: /);
    });

    test("recovers when reviews appear after a few rounds", () => {
        const r = runScript(shell, responses, [...Array(12).fill("error"), ...Array(6).fill("c2")], env("cluster2"));
        expect(r.code).toBe(0);
        expect(r.summary).toMatch(/round 3\/4$/);
    });

    test("reviews served from the front cluster itself are not cross-cluster: failure", () => {
        const r = runScript(shell, responses, ["c1"], env("cluster2"));
        expect(r.code).toBe(1);
        expect(r.summary).toMatch(/saw cluster1:6, expected cluster2 \(missing cluster2; unexpected cluster1\)/);
    });

    test("a page without the cluster marker (reviews without CLUSTER_NAME) does not pass", () => {
        const r = runScript(shell, responses, ["anonymous"], env("cluster2", { ROUNDS: "1" }));
        expect(r.code).toBe(1);
        expect(r.summary).toMatch(/saw no-cluster-name:6, expected cluster2 \(missing cluster2; unexpected no-cluster-name\)/);
    });

    test("reviews in two clusters: both must show up", () => {
        expect(runScript(shell, responses, alternate(["c2", "c3"], 6), env("cluster2 cluster3")).code).toBe(0);
        const r = runScript(shell, responses, ["c3"], env("cluster2 cluster3", { ROUNDS: "1" }));
        expect(r.summary).toMatch(/saw cluster3:6, expected cluster2,cluster3 \(missing cluster2; unexpected -\)/);
    });
});

// ---- the Jobs in the program ------------------------------------------------------------------------

const PROVIDER = "pulumi:providers:kubernetes";
const JOB = "kubernetes:batch/v1:Job";
const providerOf = (resources: Declared[], cluster: string) => one(resources, (r) => r.type === PROVIDER && r.name === `${cluster}-k8s`, `provider of ${cluster}`).urn;
const istiodOf = (resources: Declared[], cluster: string) =>
    one(resources, (r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "istiod" && providerUrn(r) === providerOf(resources, cluster), `istiod of ${cluster}`);
const jobs = (resources: Declared[]) => resources.filter((r) => r.type === JOB);
const jobIn = (resources: Declared[], check: string, cluster: string) =>
    one(resources, (r) => r.type === JOB && r.inputs.metadata.name === `verify-${check}` && providerUrn(r) === providerOf(resources, cluster), `verify-${check} in ${cluster}`);
const envOf = (job: Declared): Record<string, string> =>
    Object.fromEntries(kubernetesObject(job).spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));

describe("verification Jobs, two clusters (default settings)", () => {
    let run: RunResult;
    beforeAll(async () => {
        run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK), {
            outputs: { [JOB]: (inputs) => ({ status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] }, ...{ metadata: inputs.metadata } }) },
        });
    });

    test("one helloworld Job per cluster, with that cluster's provider, expecting v1 and v2; one Bookinfo Job in the front cluster", () => {
        expect(jobs(run.resources)).toHaveLength(3);
        for (const c of ["cluster1", "cluster2"]) {
            const job = jobIn(run.resources, "helloworld", c);
            expect(job.inputs.metadata.namespace).toBe("sample");
            expect(envOf(job)).toMatchObject({ CHECK: "helloworld", CLUSTER: c, URL: "http://helloworld.sample:5000/hello", EXPECTED: "v1 v2", QUIT_PROXY: "true" });
        }
        const bookinfo = jobIn(run.resources, "bookinfo", "cluster1");
        expect(bookinfo.inputs.metadata.namespace).toBe("bookinfo");
        expect(envOf(bookinfo)).toMatchObject({
            CHECK: "bookinfo",
            CLUSTER: "cluster1",
            URL: "http://istio-ingressgateway.istio-system.svc.cluster.local/productpage",
            EXPECTED: "cluster2",
        });
    });

    test("every Job waits for the whole mesh (istiod everywhere, remote secrets) and for every sample workload in every cluster", () => {
        const workloads = run.resources.filter((r) => r.type === "kubernetes:apps/v1:Deployment" || r.name.endsWith("-ingressgateway"));
        const remoteSecrets = run.resources.filter((r) => r.type === "kubernetes:core/v1:Secret" && r.inputs.metadata?.labels?.["istio/multiCluster"] === "true");
        expect(remoteSecrets.length).toBe(2);
        // 5 Deployments per cluster and the ingress gateway release.
        expect(workloads.length).toBe(11);
        for (const job of jobs(run.resources)) {
            for (const c of ["cluster1", "cluster2"]) expect(dependsOn(run.resources, job, istiodOf(run.resources, c))).toBe(true);
            for (const w of [...workloads, ...remoteSecrets]) expect({ job: job.name, on: w.name, waits: dependsOn(run.resources, job, w) }).toEqual({ job: job.name, on: w.name, waits: true });
        }
    });

    test("a Job keeps its fixed name: it is deleted before it is replaced, and nothing else in the stack is", () => {
        for (const job of jobs(run.resources)) expect(job.deleteBeforeReplace).toBe(true);
        expect(run.resources.filter((r) => r.deleteBeforeReplace && r.type !== JOB)).toEqual([]);
    });

    test("the Job runs the script in the client image, once, with a native sidecar and a bounded deadline", () => {
        for (const job of jobs(run.resources)) {
            validateObject(job);
            const o = kubernetesObject(job);
            const pod = o.spec.template;
            const container = pod.spec.containers[0];
            expect(container.image).toBe("docker.io/curlimages/curl:8.16.0");
            expect(container.command).toEqual(["/bin/sh", "-c", VERIFY_SCRIPT]);
            expect(container.terminationMessagePolicy).toBe("FallbackToLogsOnError");
            expect(pod.spec.restartPolicy).toBe("Never");
            expect(o.spec.backoffLimit).toBe(0);
            expect(pod.metadata.labels["sidecar.istio.io/inject"]).toBe("true");
            expect(pod.metadata.annotations["sidecar.istio.io/nativeSidecar"]).toBe("true");
            expect(o.metadata.annotations["pulumi.com/replaceUnready"]).toBe("true");
            const env = envOf(job);
            expect(env).toMatchObject({ ROUNDS: "30", REQUESTS: "10", INTERVAL: "10", REQUEST_TIMEOUT: "3" });
            // The deadline covers the slowest possible run (every request timing out) plus start-up.
            const worst = 30 * (10 * 3 + 10);
            expect(o.spec.activeDeadlineSeconds).toBeGreaterThan(worst);
            expect(o.spec.activeDeadlineSeconds).toBe(jobDeadlineSeconds({ rounds: 30, requestsPerRound: 10, intervalSeconds: 10, requestTimeoutSeconds: 3 }));
        }
    });

    test("a new istiod (chart version or Helm revision) or a new runId changes the pod template, so the check runs again", () => {
        for (const job of jobs(run.resources)) {
            expect(kubernetesObject(job).spec.template.metadata.annotations[TRIGGER_ANNOTATION]).toBe("run=1;cluster1:1.31.1/1;cluster2:1.31.1/1");
        }
    });

    test("results are stack outputs: Job names, expectations, how to read the logs, and whether it passed", () => {
        const v = (run.outputs.samples as any).verification;
        expect(Object.keys(v).sort()).toEqual(["bookinfo", "helloworld"]);
        expect(v.helloworld.cluster2).toEqual({
            check: "helloworld",
            cluster: "cluster2",
            namespace: "sample",
            job: "verify-helloworld",
            expected: ["v1", "v2"],
            logs: "kubectl --context <cluster2> logs -n sample job/verify-helloworld",
            succeeded: true,
        });
        expect(v.bookinfo.cluster1).toMatchObject({ job: "verify-bookinfo", namespace: "bookinfo", expected: ["cluster2"], succeeded: true });
    });

    test("the declared Job's own script and environment pass and fail as they should (fed canned sample answers)", () => {
        const job = jobIn(run.resources, "helloworld", "cluster2");
        const container = kubernetesObject(job).spec.template.spec.containers[0];
        const env = { ...envOf(job), INTERVAL: "0", ROUNDS: "2", QUIT_PROXY: "false" };
        const script = container.command[2];
        const pass = runScript("dash", HELLO, alternate(["v1", "v2"], 10), env, script);
        expect(pass.code).toBe(0);
        expect(pass.summary).toMatch(/^PASS helloworld cluster=cluster2: /);
        const fail = runScript("dash", HELLO, ["v1"], env, script);
        expect(fail.code).toBe(1);
        expect(fail.summary).toMatch(/^FAIL helloworld cluster=cluster2: saw v1:10, expected v1,v2 \(missing v2; unexpected -\)/);
    });
});

describe("verification Jobs, other topologies and settings", () => {
    test("three clusters: a helloworld Job in each expecting v1, v2 and v3", async () => {
        const run = await runProgram(existingStack(THREE_CLUSTERS_TWO_NETWORKS));
        for (const c of ["cluster1", "cluster2", "cluster3"]) {
            const job = jobIn(run.resources, "helloworld", c);
            expect(envOf(job).EXPECTED).toBe("v1 v2 v3");
            for (const other of ["cluster1", "cluster2", "cluster3"]) expect(dependsOn(run.resources, job, istiodOf(run.resources, other))).toBe(true);
            // Multi-network: the east-west gateways carry the traffic, so the checks wait for them too.
            for (const gw of run.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "gateway" && r.inputs.name === "istio-eastwestgateway")) {
                expect(dependsOn(run.resources, job, gw)).toBe(true);
            }
        }
        expect(jobs(run.resources)).toHaveLength(4);
    });

    test("cluster-local routing in cluster1: its Job expects v1 only, cluster2's still v1 and v2", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { samples: { clusterLocalRouting: { enabled: true } } }));
        expect(envOf(jobIn(run.resources, "helloworld", "cluster1")).EXPECTED).toBe("v1");
        expect(envOf(jobIn(run.resources, "helloworld", "cluster2")).EXPECTED).toBe("v1 v2");
        const dr = one(run.resources, (r) => r.type === "kubernetes:networking.istio.io/v1:DestinationRule", "DestinationRule");
        expect(dependsOn(run.resources, jobIn(run.resources, "helloworld", "cluster1"), dr)).toBe(true);
    });

    test("timing settings and runId reach the Jobs", async () => {
        const run = await runProgram(
            existingStack(TWO_CLUSTERS_ONE_NETWORK, { samples: { verification: { rounds: 5, requestsPerRound: 20, intervalSeconds: 2, requestTimeoutSeconds: 4, runId: "after-upgrade" } } }),
        );
        const job = jobIn(run.resources, "helloworld", "cluster1");
        expect(envOf(job)).toMatchObject({ ROUNDS: "5", REQUESTS: "20", INTERVAL: "2", REQUEST_TIMEOUT: "4" });
        expect(job.inputs.spec.template.metadata.annotations[TRIGGER_ANNOTATION]).toMatch(/^run=after-upgrade;/);
        expect(job.inputs.spec.activeDeadlineSeconds).toBe(5 * (20 * 5 + 2) + 300);
    });

    test("verification off: no Jobs, no verification output", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { samples: { verification: { enabled: false } } }));
        expect(jobs(run.resources)).toEqual([]);
        expect((run.outputs.samples as any).verification).toBeUndefined();
    });

    test("a Job that has not completed reports succeeded: false", async () => {
        const run = await runProgram(existingStack(TWO_CLUSTERS_ONE_NETWORK, { samples: { bookinfo: { enabled: false } } }));
        expect((run.outputs.samples as any).verification.helloworld.cluster1.succeeded).toBe(false);
    });
});

test("the pure Job builder validates against the Kubernetes schema", () => {
    const job = verificationJob({
        check: "helloworld",
        clusterName: "c1",
        namespace: "sample",
        url: "http://helloworld.sample:5000/hello",
        expected: ["v1", "v2"],
        timing: { rounds: 1, requestsPerRound: 1, intervalSeconds: 0, requestTimeoutSeconds: 1 },
        image: "docker.io/curlimages/curl:8.16.0",
        trigger: "run=1",
    });
    const { apiVersion, kind, ...inputs } = job;
    expect([apiVersion, kind]).toEqual(["batch/v1", "Job"]);
    validateObject(asDeclared(JOB, "j", inputs));
});
