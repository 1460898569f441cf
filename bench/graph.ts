/**
 * Critical-path arithmetic over a resource graph (pure: no Pulumi, no I/O).
 *
 * With unlimited parallelism (`pulumi up` runs every ready step at once unless --parallel says otherwise),
 * a resource starts when the last resource it depends on has finished:
 *   start(r) = max(end(d) for d in deps(r)), 0 without dependencies
 *   end(r)   = start(r) + duration(r)
 * The makespan is the largest end; the critical chain is found by walking back from the resource that ends
 * last through, at each step, the dependency that ended last.
 */

export interface GraphNode {
    id: string;
    /** Minutes (or any unit, as long as all nodes use the same). */
    duration: number;
    /** Ids this node waits for; ids that are not nodes of the graph are ignored. */
    deps: string[];
}

export interface Schedule {
    start: Map<string, number>;
    end: Map<string, number>;
    /** Largest end. */
    makespan: number;
    /** Sum of all durations: the time of doing every step one after another. */
    sequential: number;
    /** The chain of nodes that decides the makespan, first to last. */
    critical: string[];
}

/** Earliest start and end of every node, the makespan and the critical chain. Throws on a cycle. */
export function schedule(nodes: GraphNode[]): Schedule {
    const byId = new Map<string, GraphNode>();
    for (const n of nodes) {
        if (byId.has(n.id)) throw new Error(`graph: duplicate node ${n.id}`);
        byId.set(n.id, n);
    }
    const start = new Map<string, number>();
    const end = new Map<string, number>();
    const visiting = new Set<string>();

    // Iterative depth-first evaluation (graphs with thousands of nodes, deep chains).
    const evaluate = (root: string) => {
        const stack: { id: string; expanded: boolean }[] = [{ id: root, expanded: false }];
        while (stack.length > 0) {
            const top = stack[stack.length - 1];
            if (end.has(top.id)) {
                stack.pop();
                continue;
            }
            const node = byId.get(top.id)!;
            const deps = node.deps.filter((d) => byId.has(d) && d !== node.id);
            if (!top.expanded) {
                if (visiting.has(top.id)) throw new Error(`graph: dependency cycle through ${top.id}`);
                visiting.add(top.id);
                top.expanded = true;
                for (const d of deps) {
                    if (!end.has(d)) {
                        if (visiting.has(d)) throw new Error(`graph: dependency cycle through ${d}`);
                        stack.push({ id: d, expanded: false });
                    }
                }
                continue;
            }
            const s = deps.reduce((m, d) => Math.max(m, end.get(d)!), 0);
            start.set(top.id, s);
            end.set(top.id, s + node.duration);
            visiting.delete(top.id);
            stack.pop();
        }
    };
    for (const n of nodes) evaluate(n.id);

    let last: string | undefined;
    let makespan = 0;
    for (const n of nodes) {
        const e = end.get(n.id)!;
        if (last === undefined || e > makespan) {
            makespan = e;
            last = n.id;
        }
    }
    const critical = last === undefined ? [] : walkBack(byId, end, last);
    const sequential = nodes.reduce((sum, n) => sum + n.duration, 0);
    return { start, end, makespan, sequential, critical };
}

/** The latest end among the given nodes (0 if none). */
export function finishOf(s: Schedule, ids: Iterable<string>): number {
    let max = 0;
    for (const id of ids) max = Math.max(max, s.end.get(id) ?? 0);
    return max;
}

/** The chain leading to the given node (walking back through the dependency that ended last). */
export function chainTo(nodes: GraphNode[], s: Schedule, id: string): string[] {
    return walkBack(new Map(nodes.map((n) => [n.id, n])), s.end, id);
}

function walkBack(byId: Map<string, GraphNode>, end: Map<string, number>, id: string): string[] {
    const chain: string[] = [];
    let cursor: string | undefined = id;
    while (cursor !== undefined) {
        chain.push(cursor);
        let next: string | undefined;
        let nextEnd = -1;
        for (const d of byId.get(cursor)?.deps ?? []) {
            if (!byId.has(d) || d === cursor) continue;
            const e = end.get(d)!;
            if (e > nextEnd) {
                nextEnd = e;
                next = d;
            }
        }
        cursor = next;
    }
    return chain.reverse();
}
