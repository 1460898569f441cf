import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { waitFor } from "../common/dependencies";
import { withFieldManager } from "../common/fieldManager";

/**
 * The cross-cluster check built into `pulumi up`: one Kubernetes Job per check and cluster, run inside the
 * mesh (sidecar injected) after the mesh and the samples are up. Pulumi's Kubernetes provider waits for a
 * Job to complete and fails the update when it fails, so a mesh whose traffic does not cross clusters fails
 * the deployment instead of printing success.
 *
 * Each Job runs VERIFY_SCRIPT (POSIX sh, in the curl client image): it calls a URL in rounds, labels every
 * answer (the helloworld version, or the cluster the Bookinfo reviews came from), and passes as soon as one
 * round has seen every expected label and nothing else. Otherwise it retries for a bounded number of rounds
 * while endpoint discovery converges, then exits non-zero with one line naming the cluster and what it saw.
 * That line is the container's termination message (Pulumi prints it with the failure) and the log's last
 * line (`kubectl logs -n <namespace> job/<name>`).
 */

export const VERIFY_SCRIPT = String.raw`#!/bin/sh
# Mesh verification (istio-multicluster). Inputs from the environment:
#   CHECK            helloworld | bookinfo: how an answer is labelled
#   CLUSTER          the cluster this runs in (for the report)
#   URL              what to call
#   EXPECTED         space-separated labels that must all answer, and nothing else
#   ROUNDS REQUESTS INTERVAL REQUEST_TIMEOUT   bounded retries while discovery converges
#   RESULT_FILE      where the summary line also goes (default /dev/termination-log)
#   QUIT_PROXY       "true": ask the Istio proxy to exit when done
set -u
ROUNDS="${"$"}{ROUNDS:-30}"
REQUESTS="${"$"}{REQUESTS:-10}"
INTERVAL="${"$"}{INTERVAL:-10}"
REQUEST_TIMEOUT="${"$"}{REQUEST_TIMEOUT:-3}"
RESULT_FILE="${"$"}{RESULT_FILE:-/dev/termination-log}"
QUIT_PROXY="${"$"}{QUIT_PROXY:-false}"
: "${"$"}{CHECK:?}" "${"$"}{CLUSTER:?}" "${"$"}{URL:?}" "${"$"}{EXPECTED:?}"
WORK="$(mktemp -d)" || exit 2

words() { # "a b c" -> "a,b,c" ("-" when empty)
  out=""
  for w in $1; do out="${"$"}{out:+$out,}$w"; done
  printf '%s' "${"$"}{out:--}"
}

counts() { # a file of labels -> "v1:12,v2:8" ("-" when empty)
  if [ -s "$1" ]; then
    sort "$1" | uniq -c | awk '{ printf "%s%s:%s", (NR > 1 ? "," : ""), $2, $1 }'
  else
    printf '%s' "-"
  fi
}

labels() { # a response body on stdin -> its labels, one per line
  case "$CHECK" in
    helloworld)
      sed -n 's/.*Hello version: *\([^ ,]*\).*/\1/p' | head -n 1 ;;
    bookinfo)
      page="$(tr -s ' \t\r\n' '    ')"
      found="$(printf '%s' "$page" | grep -o 'on cluster <div>[^<]*</div>' | sed 's/^on cluster <div>\(.*\)<\/div>$/\1/' | sort -u)"
      if [ -n "$found" ]; then
        printf '%s\n' "$found"
      elif printf '%s' "$page" | grep -q 'Reviews served by'; then
        echo "no-cluster-name"
      fi ;;
  esac
}

finish() { # exit code, summary line
  echo "$2"
  { printf '%s\n' "$2" > "$RESULT_FILE"; } 2>/dev/null || true
  if [ "$QUIT_PROXY" = "true" ]; then
    curl -fsS --max-time 5 -X POST http://127.0.0.1:15020/quitquitquit > /dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$1"
}

case "$CHECK" in
  helloworld|bookinfo) ;;
  *) finish 2 "FAIL ${"$"}{CHECK:-?} cluster=${"$"}{CLUSTER:-?}: unknown check" ;;
esac
expected="$(words "$EXPECTED")"
echo "verifying $CHECK from cluster $CLUSTER: $URL must answer from $expected ($ROUNDS rounds of $REQUESTS requests)"
: > "$WORK/total"
last_error="-"
round=1
while [ "$round" -le "$ROUNDS" ]; do
  : > "$WORK/round"
  errors=0
  i=1
  while [ "$i" -le "$REQUESTS" ]; do
    i=$((i + 1))
    if body="$(curl -sS --max-time "$REQUEST_TIMEOUT" "$URL" 2> "$WORK/err")"; then
      got="$(printf '%s\n' "$body" | labels)"
      if [ -n "$got" ]; then
        printf '%s\n' "$got" >> "$WORK/round"
      else
        errors=$((errors + 1))
        last_error="unrecognised answer: $(printf '%s' "$body" | head -c 160 | tr '\r\n' '  ' | sed 's/ *$//')"
      fi
    else
      errors=$((errors + 1))
      last_error="$(head -c 160 "$WORK/err" | tr '\r\n' '  ' | sed 's/ *$//')"
      [ -n "$last_error" ] || last_error="curl failed"
    fi
  done
  cat "$WORK/round" >> "$WORK/total"
  missing=""
  for e in $EXPECTED; do
    grep -qx -- "$e" "$WORK/round" || missing="$missing $e"
  done
  unexpected=""
  for l in $(sort -u "$WORK/round"); do
    case " $EXPECTED " in *" $l "*) ;; *) unexpected="$unexpected $l" ;; esac
  done
  seen="$(counts "$WORK/round")"
  echo "round $round/$ROUNDS cluster=$CLUSTER seen=$seen missing=$(words "$missing") unexpected=$(words "$unexpected") errors=$errors/$REQUESTS"
  if [ -z "$missing" ] && [ -z "$unexpected" ]; then
    finish 0 "PASS $CHECK cluster=$CLUSTER: saw $seen, expected $expected; errors $errors/$REQUESTS; round $round/$ROUNDS"
  fi
  if [ "$round" -lt "$ROUNDS" ]; then sleep "$INTERVAL"; fi
  round=$((round + 1))
done
finish 1 "FAIL $CHECK cluster=$CLUSTER: saw $seen, expected $expected (missing $(words "$missing"); unexpected $(words "$unexpected")); errors $errors/$REQUESTS; after $ROUNDS rounds, all rounds saw $(counts "$WORK/total"); last error: $last_error"
`;

export const VERIFICATION_APP_LABEL = "mesh-verification";
/** Changes to the pod template replace the Job (its spec is immutable), so the check runs again. */
export const TRIGGER_ANNOTATION = "istio-multicluster/verify-trigger";

export interface VerificationTiming {
    /** Rounds before giving up. */
    rounds: number;
    /** Requests per round. */
    requestsPerRound: number;
    /** Pause between rounds, seconds. */
    intervalSeconds: number;
    /** Timeout of one request, seconds. */
    requestTimeoutSeconds: number;
}

export interface VerificationCheck {
    /** "helloworld" or "bookinfo". */
    check: string;
    clusterName: string;
    /** Provider of the cluster the Job runs in. */
    provider: k8s.Provider;
    /** An injected namespace. */
    namespace: string;
    url: string;
    /** Labels that must all answer, and nothing else (helloworld versions, or Bookinfo reviews clusters). */
    expected: string[];
}

export interface VerificationJobSpec {
    check: string;
    clusterName: string;
    namespace: string;
    url: string;
    expected: string[];
    timing: VerificationTiming;
    image: string;
    /** Anything whose change should run the check again (run ID, Istio revisions). */
    trigger: string;
}

/** Longest the script can run, plus slack for scheduling, image pulls and the sidecar's start. */
export function jobDeadlineSeconds(t: VerificationTiming): number {
    const perRound = t.requestsPerRound * (t.requestTimeoutSeconds + 1) + t.intervalSeconds;
    return t.rounds * perRound + 300;
}

export function jobName(check: string): string {
    return `verify-${check}`;
}

/** The Job for one check in one cluster. */
export function verificationJob(spec: VerificationJobSpec): Record<string, any> {
    const labels = { app: VERIFICATION_APP_LABEL, check: spec.check };
    const env: Record<string, string> = {
        CHECK: spec.check,
        CLUSTER: spec.clusterName,
        URL: spec.url,
        EXPECTED: spec.expected.join(" "),
        ROUNDS: String(spec.timing.rounds),
        REQUESTS: String(spec.timing.requestsPerRound),
        INTERVAL: String(spec.timing.intervalSeconds),
        REQUEST_TIMEOUT: String(spec.timing.requestTimeoutSeconds),
        QUIT_PROXY: "true",
    };
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: {
            name: jobName(spec.check),
            namespace: spec.namespace,
            labels,
            // A failed check is replaced (run again) on the next `pulumi up` instead of being awaited forever.
            annotations: { "pulumi.com/replaceUnready": "true" },
        },
        spec: {
            // The script retries by itself; a second pod would only repeat it.
            backoffLimit: 0,
            activeDeadlineSeconds: jobDeadlineSeconds(spec.timing),
            template: {
                metadata: {
                    labels: { ...labels, "sidecar.istio.io/inject": "true" },
                    annotations: {
                        // Istio injects the proxy as a Kubernetes native sidecar (an init container with
                        // restartPolicy Always): it starts before the script and stops when the script ends,
                        // so the Job completes. Forced per pod, whatever istiod's default.
                        "sidecar.istio.io/nativeSidecar": "true",
                        [TRIGGER_ANNOTATION]: spec.trigger,
                    },
                },
                spec: {
                    restartPolicy: "Never",
                    terminationGracePeriodSeconds: 5,
                    containers: [
                        {
                            name: "verify",
                            image: spec.image,
                            imagePullPolicy: "IfNotPresent",
                            command: ["/bin/sh", "-c", VERIFY_SCRIPT],
                            env: Object.entries(env).map(([name, value]) => ({ name, value })),
                            // The summary line goes to the termination message, which Pulumi reports.
                            terminationMessagePolicy: "FallbackToLogsOnError",
                        },
                    ],
                },
            },
        },
    };
}

export interface MeshVerificationArgs {
    checks: VerificationCheck[];
    timing: VerificationTiming;
    /** Image with /bin/sh and curl (the samples' curl client). */
    image: string;
    /** Changing it runs every check again. */
    runId: string;
    /** Extra values whose change runs the checks again (e.g. istiod chart versions and Helm revisions). */
    triggers?: pulumi.Input<string>[];
    /** What the checks must wait for: the mesh (every cluster) and the sample apps, as outputs (`urn`s). */
    dependencies: pulumi.Input<pulumi.Input<string>[]>;
}

export interface VerificationResult {
    check: string;
    cluster: string;
    namespace: string;
    job: string;
    expected: string[];
    /** How to read the result afterwards. */
    logs: string;
    /** True once the Job has completed successfully. */
    succeeded: boolean;
}

export class MeshVerification extends pulumi.ComponentResource {
    public readonly jobs: Record<string, k8s.batch.v1.Job>;
    /** By check, then by cluster. */
    public readonly results: pulumi.Output<Record<string, Record<string, VerificationResult>>>;

    constructor(name: string, args: MeshVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:MeshVerification", name, {}, opts);
        const trigger = pulumi.all(args.triggers ?? []).apply((ts) => [`run=${args.runId}`, ...ts].join(";"));
        const timeoutMinutes = Math.ceil(jobDeadlineSeconds(args.timing) / 60) + 10;
        this.jobs = {};
        const results: pulumi.Output<VerificationResult>[] = [];
        for (const c of args.checks) {
            const key = `${c.check}-${c.clusterName}`;
            const manifest = (t: string) =>
                verificationJob({ ...c, timing: args.timing, image: args.image, trigger: t });
            const job = new k8s.batch.v1.Job(
                `${name}-${key}`,
                withFieldManager({
                    metadata: manifest("").metadata,
                    spec: trigger.apply((t) => manifest(t).spec),
                }),
                {
                    parent: this,
                    provider: c.provider,
                    dependsOn: waitFor(args.dependencies),
                    // The Job has a fixed name so its logs are easy to find: replace it in place.
                    deleteBeforeReplace: true,
                    customTimeouts: { create: `${timeoutMinutes}m`, update: `${timeoutMinutes}m` },
                },
            );
            this.jobs[key] = job;
            const jobRef = jobName(c.check);
            results.push(
                job.status.apply((s) => ({
                    check: c.check,
                    cluster: c.clusterName,
                    namespace: c.namespace,
                    job: jobRef,
                    expected: c.expected,
                    logs: `kubectl --context <${c.clusterName}> logs -n ${c.namespace} job/${jobRef}`,
                    succeeded: (s?.succeeded ?? 0) > 0,
                })),
            );
        }
        this.results = pulumi.all(results).apply((rs) => {
            const out: Record<string, Record<string, VerificationResult>> = {};
            for (const r of rs) (out[r.check] ??= {})[r.cluster] = r;
            return out;
        });
        this.registerOutputs({ results: this.results });
    }
}
