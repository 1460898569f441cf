/**
 * What the Kubernetes and TLS providers return for the resources the mesh core declares, for mocks: shared by
 * the test mocks (test/support/mocks.ts) and the benchmark's (bench/mocks.ts). No jest, no imports: plain node runs it.
 */

/** How the mock monitor marks a secret value: `{ [SECRET_SIG]: SECRET_VALUE, value }`. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export function isSecret(value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as any)[SECRET_SIG] === SECRET_VALUE;
}

/** The value with every secret wrapper removed (providers see plain values). */
export function unwrapSecrets(value: any): any {
    if (isSecret(value)) return unwrapSecrets(value.value);
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    return value;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** Placeholders that look like PEM, for runs that do not need real certificates. */
export const fakePem = (label: string, name: string) => `-----BEGIN ${label}-----\n${b64(`fake ${label} for ${name}`)}\n-----END ${label}-----\n`;

export interface ProviderCall {
    type: string;
    name: string;
    /** Inputs without secret wrappers. */
    inputs: Record<string, any>;
    /** "urn::id" of the resource's provider. */
    provider?: string;
    /** A read (`.get`) rather than a create. */
    read: boolean;
    /** A running count, to hand out distinct addresses. */
    count: number;
}

/** Outputs for the Kubernetes and TLS types the core declares; undefined for any other type. */
export function coreProviderOutputs(call: ProviderCall): Record<string, unknown> | undefined {
    const { type, name, inputs } = call;
    switch (type) {
        case "tls:index/privateKey:PrivateKey":
            return { privateKeyPem: fakePem("RSA PRIVATE KEY", name), publicKeyPem: fakePem("PUBLIC KEY", name) };
        case "tls:index/selfSignedCert:SelfSignedCert":
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { certPem: fakePem("CERTIFICATE", name) };
        case "tls:index/certRequest:CertRequest":
            return { certRequestPem: fakePem("CERTIFICATE REQUEST", name) };
        case "kubernetes:core/v1:Secret": {
            // Kubernetes fills in service-account tokens; the provider waits for them.
            if (inputs.type !== "kubernetes.io/service-account-token") return {};
            const sa = inputs.metadata?.annotations?.["kubernetes.io/service-account.name"];
            return {
                data: {
                    token: b64(`token-of-${sa}-for-${inputs.metadata?.name}-${name}`),
                    "ca.crt": b64(`ca-bundle-of-${call.provider?.split("::").pop()}`),
                    namespace: b64(inputs.metadata?.namespace ?? "default"),
                },
            };
        }
        case "kubernetes:helm.sh/v3:Release":
            return {
                status: { name: inputs.name, namespace: inputs.namespace, chart: inputs.chart, version: inputs.version, status: "deployed", revision: 1 },
            };
        case "kubernetes:core/v1:Service":
            // A read Service is a gateway's: it has its load-balancer address by then (Helm waited for it).
            return call.read ? { status: { loadBalancer: { ingress: [{ ip: `10.0.${call.count % 250}.${(call.count * 7) % 250}` }] } } } : {};
        default:
            return undefined;
    }
}
