/**
 * The faults suite's report: one row per fault and point where it was injected, with the recovery steps as run, and
 * what the checks after the recovery found. Printed as a table, and written as JSON to
 * `$E2E_REPORT_DIR/faults.json` (an array of {fault, point, recovery, converged, objectsLost, certificatesChanged}).
 */
import * as fs from "fs";
import * as path from "path";

export interface FaultRow {
    fault: string;
    point: string;
    /** The recovery steps, in order, as the suite ran them ("none" steps are not listed). */
    recovery: string[];
    /** Every check after the recovery passed (no pending operation or lock, no-change preview, CA, objects, istiods synced). */
    converged: boolean;
    /** Objects the state declares that were missing from their API server after the recovery. */
    objectsLost: number;
    /** Certificates of the mesh CA that differ from before the fault ("none" when empty), by design or not. */
    certificatesChanged: string[];
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The rows as a markdown table. */
export function faultTable(rows: FaultRow[]): string {
    const lines = [
        "| fault | where injected | recovery | converged | objects lost | certificates changed |",
        "| --- | --- | --- | --- | --- | --- |",
        ...rows.map((r) =>
            `| ${cell(r.fault)} | ${cell(r.point)} | ${cell(r.recovery.map((s, i) => `${i + 1}. ${s}`).join(" "))} | ${r.converged ? "yes" : "NO"} | ${r.objectsLost} | ${cell(r.certificatesChanged.join(", ") || "none")} |`,
        ),
    ];
    return lines.join("\n");
}

/** Writes the rows to `<dir>/faults.json` (only the six documented fields, in order). */
export function writeFaultReport(dir: string, rows: FaultRow[]): string {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, "faults.json");
    const out = rows.map(({ fault, point, recovery, converged, objectsLost, certificatesChanged }) => ({ fault, point, recovery, converged, objectsLost, certificatesChanged }));
    fs.writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
    return file;
}
