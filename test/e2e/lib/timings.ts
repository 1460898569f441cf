/**
 * The engine's own timings of an update, from its events (Automation API `onEvent`): per resource, from the
 * step's `resourcePreEvent` to its `resOutputsEvent` (or failure). Timestamps are whole seconds.
 */
export interface StepTiming {
    urn: string;
    name: string;
    type: string;
    op: string;
    start: number;
    end?: number;
}

export interface UpdateTimings {
    steps: StepTiming[];
    /** Seconds from the first step's start to the last step's end. */
    makespan: number;
    /** Seconds from the first step's start until every resource under the Mesh component has ended. */
    timeToMesh: number;
}

export function updateTimings(events: any[]): UpdateTimings {
    const steps = new Map<string, StepTiming>();
    for (const e of events) {
        const pre = e.resourcePreEvent?.metadata;
        const out = e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
        if (pre && pre.op !== "same" && !steps.has(pre.urn)) {
            steps.set(pre.urn, { urn: pre.urn, name: pre.urn.split("::").pop(), type: pre.type, op: pre.op, start: e.timestamp });
        }
        if (out && steps.has(out.urn)) steps.get(out.urn)!.end = e.timestamp;
    }
    const list = [...steps.values()].filter((s) => s.end !== undefined && !s.type.startsWith("pulumi:"));
    if (list.length === 0) return { steps: [], makespan: 0, timeToMesh: 0 };
    const t0 = Math.min(...list.map((s) => s.start));
    const meshSteps = list.filter((s) => s.urn.includes("istio-multicluster:index:Mesh"));
    return {
        steps: list.sort((a, b) => a.start - b.start),
        makespan: Math.max(...list.map((s) => s.end!)) - t0,
        timeToMesh: meshSteps.length ? Math.max(...meshSteps.map((s) => s.end!)) - t0 : 0,
    };
}

/** The slowest steps, as markdown table rows (seconds from the update's start). */
export function slowestRows(t: UpdateTimings, n = 15): string[] {
    const t0 = t.steps.length ? Math.min(...t.steps.map((s) => s.start)) : 0;
    return [...t.steps]
        .sort((a, b) => b.end! - b.start - (a.end! - a.start))
        .slice(0, n)
        .map((s) => `| \`${s.name}\` | ${s.type} | ${s.start - t0} | ${s.end! - s.start} | ${s.end! - t0} |`);
}
