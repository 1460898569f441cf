/** Sample apps and the cross-cluster check (issue: samples). */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { Cluster } from "../components/cluster";
import { Mesh } from "../components/mesh";

/** `istio-multicluster:samples`. */
export const samplesSettingsSchema = z.strictObject({}).default({});
export type SamplesSettings = z.output<typeof samplesSettingsSchema>;

export type SampleOutputs = Record<string, pulumi.Output<unknown>>;

export function deploySamples(_settings: unknown, _mesh: Mesh, _clusters: Cluster[]): SampleOutputs {
    return {};
}
