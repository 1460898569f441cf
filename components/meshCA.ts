import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

/**
 * The mesh's plug-in CA: one root, and one intermediate per cluster signed by it, following Istio's
 * tools/certs Makefile.selfsigned.mk profile as far as @pulumi/tls can express it (see `caProfile`).
 */
export interface MeshCAArgs {
    /** Istio cluster names; one intermediate CA each. */
    clusterNames: string[];
    /** Validity of root and intermediates, in hours. Default 3650 days, as Istio's Makefile. */
    validityHours?: number;
}

/** The four files of Istio's `cacerts` Secret, for one cluster. */
export interface CACerts {
    /** The cluster's intermediate CA certificate. */
    "ca-cert.pem": string;
    /** Its private key. */
    "ca-key.pem": string;
    /** The mesh root, shared by every cluster. */
    "root-cert.pem": string;
    /** Intermediate followed by root. */
    "cert-chain.pem": string;
}

export const CACERTS_KEYS = ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"] as const;

export const DEFAULT_CA_VALIDITY_HOURS = 3650 * 24;
export const CA_KEY = { algorithm: "RSA", rsaBits: 4096 } as const;

/**
 * Certificate profile of the root and of a cluster's intermediate, as @pulumi/tls inputs.
 * - keyUsage (critical): digitalSignature, nonRepudiation ("content_commitment"), keyEncipherment, keyCertSign.
 * - basicConstraints CA:true. Istio's Makefile adds pathlen:0 to intermediates; the tls provider cannot encode
 *   it (maxPathLength 0 means "no constraint", 1 allows sub-CAs), so it is left unset: istiod does not need it.
 * - no extendedKeyUsage.
 */
export const CA_ALLOWED_USES = ["digital_signature", "content_commitment", "key_encipherment", "cert_signing"];

export function rootSubject() {
    return { organization: "Istio", commonName: "Root CA" };
}

export function intermediateSubject(clusterName: string) {
    return { organization: "Istio", commonName: "Intermediate CA", locality: clusterName };
}

/** istiod serves its own webhooks and XDS under this name, signed by the intermediate. */
export const INTERMEDIATE_DNS_NAMES = ["istiod.istio-system.svc"];

/** PEM files end with a newline; joining them must not glue BEGIN onto END. */
export function certChain(intermediatePem: string, rootPem: string): string {
    const withNewline = (pem: string) => (pem.endsWith("\n") ? pem : `${pem}\n`);
    return withNewline(intermediatePem) + withNewline(rootPem);
}

export class MeshCA extends pulumi.ComponentResource {
    /** The root certificate every cluster trusts. */
    public readonly rootCertPem: pulumi.Output<string>;
    /** Per cluster, the contents of its `cacerts` Secret (secret: it holds the intermediate's key). */
    public readonly clusterCerts: Record<string, pulumi.Output<CACerts>>;

    constructor(name: string, args: MeshCAArgs, opts?: pulumi.ComponentResourceOptions) {
        super("istio-multicluster:index:MeshCA", name, {}, opts);
        if (args.clusterNames.length === 0) throw new Error("MeshCA needs at least one cluster name");
        const validityPeriodHours = args.validityHours ?? DEFAULT_CA_VALIDITY_HOURS;

        const rootKey = new tls.PrivateKey(`${name}-root`, CA_KEY, { parent: this });
        const root = new tls.SelfSignedCert(
            `${name}-root`,
            {
                privateKeyPem: rootKey.privateKeyPem,
                subject: rootSubject(),
                isCaCertificate: true,
                allowedUses: CA_ALLOWED_USES,
                validityPeriodHours,
            },
            { parent: this },
        );
        this.rootCertPem = root.certPem;

        this.clusterCerts = {};
        for (const clusterName of args.clusterNames) {
            const key = new tls.PrivateKey(`${name}-${clusterName}`, CA_KEY, { parent: this });
            const csr = new tls.CertRequest(
                `${name}-${clusterName}`,
                { privateKeyPem: key.privateKeyPem, subject: intermediateSubject(clusterName), dnsNames: INTERMEDIATE_DNS_NAMES },
                { parent: this },
            );
            const cert = new tls.LocallySignedCert(
                `${name}-${clusterName}`,
                {
                    certRequestPem: csr.certRequestPem,
                    caPrivateKeyPem: rootKey.privateKeyPem,
                    caCertPem: root.certPem,
                    isCaCertificate: true,
                    allowedUses: CA_ALLOWED_USES,
                    validityPeriodHours,
                },
                { parent: this },
            );
            this.clusterCerts[clusterName] = pulumi.secret(
                pulumi.all([cert.certPem, key.privateKeyPem, root.certPem]).apply(([caCert, caKey, rootCert]) => ({
                    "ca-cert.pem": caCert,
                    "ca-key.pem": caKey,
                    "root-cert.pem": rootCert,
                    "cert-chain.pem": certChain(caCert, rootCert),
                })),
            );
        }
        this.registerOutputs({ rootCertPem: this.rootCertPem });
    }
}
