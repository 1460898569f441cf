/**
 * Issues real keys and certificates from the inputs the program gives @pulumi/tls, with the semantics of
 * the Terraform tls provider underneath it (Go's crypto/x509): RSA keys as PKCS#1 PEM, basicConstraints
 * and keyUsage critical, no path length (the provider cannot set pathlen:0), SANs and subject from the CSR.
 */
import "reflect-metadata"; // @peculiar/x509 uses tsyringe, which needs it loaded first
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto.webcrypto as any);
type CryptoKey = crypto.webcrypto.CryptoKey;

const generateKeyPair = promisify(crypto.generateKeyPair);
const ALG = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };

/** The tls provider's `allowedUses` names and the key usages they set. */
const KEY_USAGES: Record<string, x509.KeyUsageFlags> = {
    digital_signature: x509.KeyUsageFlags.digitalSignature,
    content_commitment: x509.KeyUsageFlags.nonRepudiation,
    key_encipherment: x509.KeyUsageFlags.keyEncipherment,
    data_encipherment: x509.KeyUsageFlags.dataEncipherment,
    key_agreement: x509.KeyUsageFlags.keyAgreement,
    cert_signing: x509.KeyUsageFlags.keyCertSign,
    crl_signing: x509.KeyUsageFlags.cRLSign,
};
const EXT_KEY_USAGES: Record<string, string> = {
    server_auth: x509.ExtendedKeyUsage.serverAuth,
    client_auth: x509.ExtendedKeyUsage.clientAuth,
};

export interface TlsSubject {
    organization?: string;
    commonName?: string;
    locality?: string;
    serialNumber?: string;
}

export function subjectName(subject: TlsSubject): string {
    const parts: string[] = [];
    if (subject.commonName) parts.push(`CN=${subject.commonName}`);
    if (subject.locality) parts.push(`L=${subject.locality}`);
    if (subject.organization) parts.push(`O=${subject.organization}`);
    // 2.5.4.5 (serialNumber): the tls provider's subject.serialNumber, which generations of a CA use.
    if (subject.serialNumber) parts.push(`2.5.4.5=${subject.serialNumber}`);
    return parts.join(", ");
}

async function importPrivate(pem: string): Promise<CryptoKey> {
    const der = crypto.createPrivateKey(pem).export({ type: "pkcs8", format: "der" });
    return crypto.webcrypto.subtle.importKey("pkcs8", der, ALG, true, ["sign"]) as Promise<CryptoKey>;
}

async function importPublic(pem: string): Promise<CryptoKey> {
    const der = crypto.createPublicKey(pem).export({ type: "spki", format: "der" });
    return crypto.webcrypto.subtle.importKey("spki", der, ALG, true, ["verify"]) as Promise<CryptoKey>;
}

function usageExtensions(allowedUses: string[]): x509.Extension[] {
    const unknown = allowedUses.filter((u) => !(u in KEY_USAGES) && !(u in EXT_KEY_USAGES));
    if (unknown.length) throw new Error(`allowedUses not modelled: ${unknown.join(", ")}`);
    const flags = allowedUses.filter((u) => u in KEY_USAGES).reduce((acc, u) => acc | KEY_USAGES[u], 0);
    const ekus = allowedUses.filter((u) => u in EXT_KEY_USAGES).map((u) => EXT_KEY_USAGES[u]);
    const exts: x509.Extension[] = [];
    if (flags) exts.push(new x509.KeyUsagesExtension(flags, true));
    if (ekus.length) exts.push(new x509.ExtendedKeyUsageExtension(ekus, false));
    return exts;
}

let serial = 1;
const nextSerial = () => (serial++).toString(16).padStart(8, "0");

/** Where `keyCache` keeps keys between runs: beside the installed packages, never in the repository. */
export const KEY_CACHE_DIR = path.join(__dirname, "..", "..", "node_modules", ".cache", "istio-multicluster-test-keys");

async function newRsaKey(bits: number): Promise<string> {
    const { privateKey } = await generateKeyPair("rsa", { modulusLength: bits, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
    return privateKey as unknown as string;
}

/**
 * A real RSA key per resource name and size, generated once and kept in KEY_CACHE_DIR: an RSA-4096 key takes
 * about a second of CPU, and every run of the program with real certificates wants four. A resource keeps its
 * key from run to run, as it would keep it in a stack's state; different resources get different keys.
 */
async function cachedRsaKey(name: string, bits: number): Promise<string> {
    const file = path.join(KEY_CACHE_DIR, `${name.replace(/[^A-Za-z0-9_.-]/g, "_")}-rsa${bits}.pem`);
    try {
        const pem = fs.readFileSync(file, "utf8");
        if (crypto.createPrivateKey(pem).asymmetricKeyDetails?.modulusLength === bits) return pem;
    } catch {
        // not there yet, or unreadable: make it
    }
    const pem = await newRsaKey(bits);
    fs.mkdirSync(KEY_CACHE_DIR, { recursive: true });
    // Another jest worker may want the same key: write aside, then rename (atomic), so nobody reads half a key.
    const partial = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
    fs.writeFileSync(partial, pem, { mode: 0o600 });
    fs.renameSync(partial, file);
    return pem;
}

export interface RealTlsOptions {
    /** Keep keys by resource name between runs (KEY_CACHE_DIR) instead of generating new ones each time. */
    keyCache?: boolean;
}

/** A private key PEM and its public half, as WebCrypto keys for signing. */
async function keyPair(privateKeyPem: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
    const publicPem = crypto.createPublicKey(privateKeyPem).export({ type: "spki", format: "pem" }) as string;
    return { privateKey: await importPrivate(privateKeyPem), publicKey: await importPublic(publicPem) };
}

/** The subjectAltName extension for `dnsNames` (none when there are none). */
function sanExtensions(dnsNames: string[] | undefined): x509.Extension[] {
    return dnsNames?.length ? [new x509.SubjectAlternativeNameExtension(dnsNames.map((d) => ({ type: "dns", value: d })))] : [];
}

/**
 * A certificate as the tls provider issues one from `inputs` (validity, CA flag, allowed uses): basicConstraints and
 * keyUsage critical, the SANs, the subject key id, then `issuerExtensions` (the authority key id).
 */
async function issue(
    inputs: { validityPeriodHours: number; isCaCertificate?: boolean; allowedUses?: string[] },
    cert: { subject: string; issuer: string; publicKey: CryptoKey; signingKey: CryptoKey; san: x509.Extension[]; issuerExtensions?: x509.Extension[] },
): Promise<string> {
    const issued = await x509.X509CertificateGenerator.create({
        serialNumber: nextSerial(),
        subject: cert.subject,
        issuer: cert.issuer,
        notBefore: new Date(),
        notAfter: new Date(Date.now() + inputs.validityPeriodHours * 3600_000),
        signingAlgorithm: ALG,
        publicKey: cert.publicKey,
        signingKey: cert.signingKey,
        extensions: [
            new x509.BasicConstraintsExtension(Boolean(inputs.isCaCertificate), undefined, true),
            ...usageExtensions(inputs.allowedUses ?? []),
            ...cert.san,
            await x509.SubjectKeyIdentifierExtension.create(cert.publicKey),
            ...(cert.issuerExtensions ?? []),
        ],
    });
    return issued.toString("pem") + "\n";
}

export class RealTls {
    constructor(private readonly options: RealTlsOptions = {}) {}

    async privateKey(name: string, inputs: { algorithm: string; rsaBits?: number }) {
        if (inputs.algorithm !== "RSA") throw new Error(`only RSA is modelled, got ${inputs.algorithm}`);
        const bits = inputs.rsaBits ?? 2048;
        const privateKey = this.options.keyCache ? await cachedRsaKey(name, bits) : await newRsaKey(bits);
        const publicKey = crypto.createPublicKey(privateKey).export({ type: "spki", format: "pem" }) as string;
        return { privateKeyPem: privateKey, publicKeyPem: publicKey };
    }

    async selfSigned(inputs: any): Promise<string> {
        const { privateKey, publicKey } = await keyPair(inputs.privateKeyPem);
        const name = subjectName(inputs.subject ?? {});
        return issue(inputs, { subject: name, issuer: name, publicKey, signingKey: privateKey, san: sanExtensions(inputs.dnsNames) });
    }

    async certRequest(inputs: any): Promise<string> {
        const csr = await x509.Pkcs10CertificateRequestGenerator.create({
            name: subjectName(inputs.subject ?? {}),
            keys: await keyPair(inputs.privateKeyPem),
            signingAlgorithm: ALG,
            extensions: sanExtensions(inputs.dnsNames),
        });
        return csr.toString("pem") + "\n";
    }

    async locallySigned(inputs: any): Promise<string> {
        const csr = new x509.Pkcs10CertificateRequest(inputs.certRequestPem);
        if (!(await csr.verify())) throw new Error("CSR signature does not verify");
        const ca = new x509.X509Certificate(inputs.caCertPem);
        const san = csr.extensions.find((e) => e.type === "2.5.29.17"); // subjectAltName
        return issue(inputs, {
            subject: csr.subject,
            issuer: ca.subject,
            publicKey: await csr.publicKey.export(ALG, ["verify"]),
            signingKey: await importPrivate(inputs.caPrivateKeyPem),
            san: san ? [san] : [],
            issuerExtensions: [await x509.AuthorityKeyIdentifierExtension.create(ca)],
        });
    }
}
