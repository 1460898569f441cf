/**
 * Pulumi mocks that answer the way the real providers would for the resources this project declares,
 * and refuse anything they do not know (an unknown invoke fails the test instead of returning nothing).
 */
import type * as pulumiType from "@pulumi/pulumi";
import { RealTls } from "./realTls";
import { coreProviderOutputs, unwrapSecrets } from "./providerOutputs";
import { firstPreviewReply } from "./previewModel";

export interface MockOptions {
    /** Issue real keys and certificates for @pulumi/tls resources (keys are kept between runs: see RealTls). */
    realTls?: boolean;
    /** Config keys to mark secret. */
    secretKeys?: string[];
    /** Extra answers for invokes, by token. */
    calls?: Record<string, (inputs: any) => Record<string, unknown>>;
    /** Extra outputs for resources, by type. */
    outputs?: Record<string, (inputs: any, name: string) => Record<string, unknown>>;
    /**
     * Answer as the providers do in the first preview of a stack (test/support/previewModel.ts): inputs echoed, what the
     * cloud would compute unknown. Use with a preview run (`runFirstPreview`).
     */
    firstPreview?: boolean;
}

export interface Seen {
    type: string;
    name: string;
    inputs: Record<string, any>;
    read: boolean;
    provider?: string;
}

export class MeshMocks implements pulumiType.runtime.Mocks {
    public readonly seen: Seen[] = [];
    private readonly tls?: RealTls;

    constructor(private readonly options: MockOptions = {}) {
        if (options.realTls) this.tls = new RealTls({ keyCache: true });
    }

    async newResource(args: pulumiType.runtime.MockResourceArgs): Promise<{ id: string | undefined; state: Record<string, any> }> {
        this.seen.push({ type: args.type, name: args.name, inputs: args.inputs, read: isRead(args), provider: args.provider });
        const id = args.id || `${args.name}-id`;
        const state = await this.outputsFor(args);
        if (this.options.firstPreview) {
            return firstPreviewReply({ type: args.type, inputs: args.inputs, created: { ...args.inputs, ...state }, custom: args.custom ?? true, id: args.id });
        }
        return { id, state: { ...args.inputs, ...state } };
    }

    call(args: pulumiType.runtime.MockCallArgs): Record<string, any> {
        const answer = this.options.calls?.[args.token];
        if (!answer) throw new Error(`no mock for invoke ${args.token}`);
        return answer(args.inputs);
    }

    private async outputsFor(args: pulumiType.runtime.MockResourceArgs): Promise<Record<string, unknown>> {
        const custom = this.options.outputs?.[args.type];
        if (custom) return custom(args.inputs, args.name);
        const inputs = unwrapSecrets(args.inputs);
        if (this.tls) {
            switch (args.type) {
                case "tls:index/privateKey:PrivateKey":
                    return this.tls.privateKey(args.name, inputs);
                case "tls:index/selfSignedCert:SelfSignedCert":
                    return { certPem: await this.tls.selfSigned(inputs) };
                case "tls:index/certRequest:CertRequest":
                    return { certRequestPem: await this.tls.certRequest(inputs) };
                case "tls:index/locallySignedCert:LocallySignedCert":
                    return { certPem: await this.tls.locallySigned(inputs) };
            }
        }
        return (
            coreProviderOutputs({ type: args.type, name: args.name, inputs, provider: args.provider, read: isRead(args), count: this.seen.length }) ?? {}
        );
    }
}

function isRead(args: pulumiType.runtime.MockResourceArgs): boolean {
    return args.id !== undefined && args.id !== "";
}
