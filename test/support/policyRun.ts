/** Runs the project's policy pack over what a program run declared, as `pulumi preview --policy-pack` would. */
import { EnforcementLevel, ResourceValidationArgs, UnknownValueError, unknownCheckingProxy } from "@pulumi/policy";
import { UNKNOWN } from "./previewModel";
import { policies } from "../../policy/policies";
import { Declared, plain, providerUrn } from "./harness";

export interface PolicyRunOptions {
    /** Only these resources (default: every resource that is created, not read, components included). */
    include?: (r: Declared) => boolean;
    /** Report "policy: resource: message" instead of "policy: resource". */
    withMessages?: boolean;
    /** Only the policies of this enforcement level (what fails a preview: "mandatory"); default every policy. */
    level?: EnforcementLevel;
}

/** Every violation, sorted and without repeats. */
export async function policyViolations(resources: Declared[], options: PolicyRunOptions = {}): Promise<string[]> {
    const providers = new Map(resources.filter((r) => r.type.startsWith("pulumi:providers:")).map((r) => [r.urn, r]));
    const found = new Set<string>();
    // Components too: the engine hands policies a remote component's inputs (eks:index:Cluster); this program's own
    // components have none.
    const candidates = resources.filter((r) => !r.read && !r.type.startsWith("pulumi:"));
    for (const r of candidates.filter(options.include ?? (() => true))) {
        const provider = providers.get(providerUrn(r));
        const args = {
            type: r.type,
            // As the policy server hands them over: reading a value the preview does not know throws UnknownValueError.
            props: unknownCheckingProxy(withPolicyUnknowns(plain(r.inputs))),
            urn: r.urn,
            name: r.name,
            opts: { protect: r.protect, ignoreChanges: r.ignoreChanges, aliases: [], additionalSecretOutputs: [] },
            provider: provider ? { type: provider.type, name: provider.name, urn: provider.urn, props: {} } : undefined,
            stackTags: new Map(),
            isType: () => false,
            asType: () => undefined,
            getConfig: () => ({}),
        } as unknown as ResourceValidationArgs;
        for (const policy of policies.filter((p) => options.level === undefined || p.enforcementLevel === options.level)) {
            const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
            for (const validate of validations) {
                try {
                    await validate(args, (message: string) => found.add(options.withMessages ? `${policy.name}: ${r.name}: ${message}` : `${policy.name}: ${r.name}`));
                } catch (e) {
                    // The policy server turns this into an advisory "can't run policy during preview": no violation.
                    if (!(e instanceof UnknownValueError)) throw e;
                }
            }
        }
    }
    return [...found].sort();
}

/** The policy SDK's unknown value (deserializeProperties gives it for the engine's; not in its type declarations). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { unknownObjectValue } = require("@pulumi/policy/proxy") as { unknownObjectValue: unknown };

/**
 * The engine's unknown value as the policy SDK's, wherever it is: the mocks see it as the preview model's sentinel
 * (test/support/previewModel.ts) or as the SDK's own `unknown` object (an unknown output sent as an input).
 */
function withPolicyUnknowns(value: unknown): unknown {
    if (value === UNKNOWN || (typeof value === "object" && value !== null && (value as { __pulumiUnknown?: unknown }).__pulumiUnknown === true)) return unknownObjectValue;
    if (Array.isArray(value)) return value.map(withPolicyUnknowns);
    if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withPolicyUnknowns(v)]));
    return value;
}
