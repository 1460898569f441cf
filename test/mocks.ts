/**
 * Pulumi mocks that answer the way the real providers would for the resources this project declares,
 * and refuse anything they do not know (an unknown invoke fails the test instead of returning nothing).
 */
import type * as pulumiType from "@pulumi/pulumi";
import { RealTls } from "./realTls";

export interface MockOptions {
    /** Issue real keys and certificates for @pulumi/tls resources (slower: RSA 4096). */
    realTls?: boolean;
    /** Config keys to mark secret. */
    secretKeys?: string[];
    /** Extra answers for invokes, by token. */
    calls?: Record<string, (inputs: any) => Record<string, unknown>>;
    /** Extra outputs for resources, by type. */
    outputs?: Record<string, (inputs: any, name: string) => Record<string, unknown>>;
}

export interface Seen {
    type: string;
    name: string;
    inputs: Record<string, any>;
    read: boolean;
    provider?: string;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** Placeholders that look like PEM, for runs that do not need real certificates. */
const fakePem = (label: string, name: string) => `-----BEGIN ${label}-----\n${b64(`fake ${label} for ${name}`)}\n-----END ${label}-----\n`;

export class MeshMocks implements pulumiType.runtime.Mocks {
    public readonly seen: Seen[] = [];
    private readonly tls?: RealTls;

    constructor(private readonly options: MockOptions = {}) {
        if (options.realTls) this.tls = new RealTls();
    }

    async newResource(args: pulumiType.runtime.MockResourceArgs): Promise<{ id: string | undefined; state: Record<string, any> }> {
        this.seen.push({ type: args.type, name: args.name, inputs: args.inputs, read: isRead(args), provider: args.provider });
        const id = args.id || `${args.name}-id`;
        const state = await this.outputsFor(args);
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
        const inputs = unwrap(args.inputs);
        switch (args.type) {
            case "tls:index/privateKey:PrivateKey":
                if (this.tls) return this.tls.privateKey(args.name, inputs);
                return { privateKeyPem: fakePem("RSA PRIVATE KEY", args.name), publicKeyPem: fakePem("PUBLIC KEY", args.name) };
            case "tls:index/selfSignedCert:SelfSignedCert":
                if (this.tls) return { certPem: await this.tls.selfSigned(inputs) };
                return { certPem: fakePem("CERTIFICATE", args.name) };
            case "tls:index/certRequest:CertRequest":
                if (this.tls) return { certRequestPem: await this.tls.certRequest(inputs) };
                return { certRequestPem: fakePem("CERTIFICATE REQUEST", args.name) };
            case "tls:index/locallySignedCert:LocallySignedCert":
                if (this.tls) return { certPem: await this.tls.locallySigned(inputs) };
                return { certPem: fakePem("CERTIFICATE", args.name) };
            case "kubernetes:core/v1:Secret":
                // Kubernetes fills in service-account tokens; the provider waits for them.
                if (inputs.type === "kubernetes.io/service-account-token") {
                    const sa = inputs.metadata?.annotations?.["kubernetes.io/service-account.name"];
                    return {
                        data: {
                            token: b64(`token-of-${sa}-for-${inputs.metadata?.name}-${args.name}`),
                            "ca.crt": b64(`ca-bundle-of-${args.provider?.split("::").pop()}`),
                            namespace: b64(inputs.metadata?.namespace ?? "default"),
                        },
                    };
                }
                return {};
            case "kubernetes:helm.sh/v3:Release":
                return {
                    status: {
                        name: inputs.name,
                        namespace: inputs.namespace,
                        chart: inputs.chart,
                        version: inputs.version,
                        status: "deployed",
                        revision: 1,
                    },
                };
            case "kubernetes:core/v1:Service":
                if (isRead(args)) {
                    return { status: { loadBalancer: { ingress: [{ ip: `10.0.${this.seen.length % 250}.${(this.seen.length * 7) % 250}` }] } } };
                }
                return {};
            default:
                return {};
        }
    }
}

function isRead(args: pulumiType.runtime.MockResourceArgs): boolean {
    return args.id !== undefined && args.id !== "";
}

/** Mock inputs carry secrets wrapped; providers see plain values. */
function unwrap(value: any): any {
    if (typeof value === "object" && value !== null && value["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") {
        return unwrap(value.value);
    }
    if (Array.isArray(value)) return value.map(unwrap);
    if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
    return value;
}
