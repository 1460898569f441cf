/**
 * `istio-multicluster:istioValues` and each cluster's `istioValues`: Helm values laid under the mesh's own in Istio's
 * charts (components/core/istioValues.ts). Checked with every other setting: each chart's values an object, and no
 * key the mesh owns (named with the setting that owns it).
 */
import { z } from "zod";
import { istioValuesProblems } from "../components/core/istioValues";

const chartValues = (chart: string) =>
    z.record(z.string(), z.unknown(), { error: `must be an object of Helm values for Istio's ${chart} chart, e.g. {"meshConfig": {"accessLogFile": "/dev/stdout"}}` }).optional();

const istioValuesSchema = (perCluster: boolean) =>
    z
        .strictObject({ base: chartValues("base"), istiod: chartValues("istiod"), gateway: chartValues("gateway") }, { error: "must be an object with Helm values per chart: base, istiod, gateway" })
        .superRefine(
            (values, ctx) => {
                // Unknown charts and malformed values are the schema's to report; here only the keys the mesh owns.
                for (const p of istioValuesProblems(values, perCluster)) {
                    if (p.path.length > 1) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
                }
            },
            // Also when another chart's values are malformed, so that every problem is reported in one run.
            { when: (payload) => typeof payload.value === "object" && payload.value !== null && !Array.isArray(payload.value) },
        )
        .optional();

/** Mesh-wide overlays (spread into commonSettings). */
export const istioValuesSettings = { istioValues: istioValuesSchema(false) };

/** One cluster's overlays, over the mesh-wide ones (spread into every platform's cluster entry). */
export const clusterIstioValuesFields = { istioValues: istioValuesSchema(true) };
