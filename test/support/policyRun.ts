/** Runs the project's policy pack over what a program run declared, as `pulumi preview --policy-pack` would. */
import { ResourceValidationArgs } from "@pulumi/policy";
import { policies } from "../../policy/policies";
import { Declared, plain, providerUrn } from "./harness";

export interface PolicyRunOptions {
    /** Only these resources (default: every custom resource that is created, not read). */
    include?: (r: Declared) => boolean;
    /** Report "policy: resource: message" instead of "policy: resource". */
    withMessages?: boolean;
}

/** Every violation, sorted and without repeats. */
export async function policyViolations(resources: Declared[], options: PolicyRunOptions = {}): Promise<string[]> {
    const providers = new Map(resources.filter((r) => r.type.startsWith("pulumi:providers:")).map((r) => [r.urn, r]));
    const found = new Set<string>();
    const candidates = resources.filter((r) => r.custom && !r.read && !r.type.startsWith("pulumi:providers:"));
    for (const r of candidates.filter(options.include ?? (() => true))) {
        const provider = providers.get(providerUrn(r));
        const args = {
            type: r.type,
            props: plain(r.inputs),
            urn: r.urn,
            name: r.name,
            opts: { protect: r.protect, ignoreChanges: r.ignoreChanges, aliases: [], additionalSecretOutputs: [] },
            provider: provider ? { type: provider.type, name: provider.name, urn: provider.urn, props: {} } : undefined,
            stackTags: new Map(),
            isType: () => false,
            asType: () => undefined,
            getConfig: () => ({}),
        } as unknown as ResourceValidationArgs;
        for (const policy of policies) {
            const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
            for (const validate of validations) {
                await validate(args, (message: string) => found.add(options.withMessages ? `${policy.name}: ${r.name}: ${message}` : `${policy.name}: ${r.name}`));
            }
        }
    }
    return [...found].sort();
}
