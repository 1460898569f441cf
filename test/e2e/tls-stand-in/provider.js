/**
 * A STAND-IN for the `tls` provider plugin (pulumi-resource-tls), for the e2e bed only.
 *
 * Why: the bed builds every plugin from Go modules, and the Go module proxy here refuses the tls provider and the
 * Terraform bridge it is made of (403 for github.com/pulumi/pulumi-tls/provider/v5 and
 * github.com/pulumi/pulumi-terraform-bridge/v3, every version). So the engine gets this plugin instead: the
 * Pulumi Node.js provider server (@pulumi/pulumi/provider) with the four resources the program uses
 * (PrivateKey, SelfSignedCert, CertRequest, LocallySignedCert), keys from node's crypto and certificates from
 * `openssl`, following the tls provider's documented behaviour (every input change replaces; CA certificates get
 * basicConstraints CA:TRUE without a path length; key usages critical; SANs copied from the CSR).
 * What it does NOT prove: the real tls provider's behaviour. The engine, state, secrets, protect and replacement
 * logic around these resources are the real ones.
 */
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");
const provider = require("@pulumi/pulumi/provider");

const VERSION = "5.6.1";

const USES = {
    digital_signature: ["ku", "digitalSignature"],
    content_commitment: ["ku", "nonRepudiation"],
    key_encipherment: ["ku", "keyEncipherment"],
    data_encipherment: ["ku", "dataEncipherment"],
    key_agreement: ["ku", "keyAgreement"],
    cert_signing: ["ku", "keyCertSign"],
    crl_signing: ["ku", "cRLSign"],
    server_auth: ["eku", "serverAuth"],
    client_auth: ["eku", "clientAuth"],
};

function withTmp(fn) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-stand-in-"));
    try {
        return fn(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const openssl = (args, cwd) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString("utf8");

/**
 * The subject as openssl's -subj, with every field of the tls provider's `subject` in the order Go's
 * pkix.Name.ToRDNSequence writes them (the real provider builds a pkix.Name). A field left out here would make two
 * different subjects one CSR: the program's `serialNumber` (a new intermediate or root generation) once was.
 */
function subjectString(s = {}) {
    const parts = [];
    const add = (k, v) => v && parts.push(`/${k}=${String(v).replace(/\//g, "\\/")}`);
    add("C", s.country);
    add("ST", s.province);
    add("L", s.locality);
    for (const street of s.streetAddresses ?? []) add("street", street);
    add("postalCode", s.postalCode);
    add("O", s.organization);
    add("OU", s.organizationalUnit);
    add("CN", s.commonName);
    add("serialNumber", s.serialNumber);
    return parts.join("") || "/";
}

function extensions(inputs) {
    const ku = [];
    const eku = [];
    for (const u of inputs.allowedUses ?? []) {
        const m = USES[u];
        if (!m) throw new Error(`tls stand-in: unsupported allowed use ${u}`);
        (m[0] === "ku" ? ku : eku).push(m[1]);
    }
    const lines = [inputs.isCaCertificate ? "basicConstraints=critical,CA:TRUE" : "basicConstraints=critical,CA:FALSE"];
    if (ku.length) lines.push(`keyUsage=critical,${ku.join(",")}`);
    if (eku.length) lines.push(`extendedKeyUsage=${eku.join(",")}`);
    if (inputs.isCaCertificate) lines.push("subjectKeyIdentifier=hash");
    return lines;
}

function validity(inputs, certPem) {
    const c = new crypto.X509Certificate(certPem);
    return { validityStartTime: new Date(c.validFrom).toISOString(), validityEndTime: new Date(c.validTo).toISOString(), readyForRenewal: false };
}

function keyAlgorithm(pem) {
    return crypto.createPrivateKey(pem).asymmetricKeyType === "rsa" ? "RSA" : "ECDSA";
}

const resources = {
    "tls:index/privateKey:PrivateKey": (inputs) => {
        const algorithm = inputs.algorithm ?? "RSA";
        if (algorithm !== "RSA") throw new Error("tls stand-in: only RSA keys");
        const rsaBits = inputs.rsaBits ?? 2048;
        const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: rsaBits });
        const publicKeyPem = publicKey.export({ type: "spki", format: "pem" });
        const der = publicKey.export({ type: "spki", format: "der" });
        return {
            id: crypto.createHash("sha1").update(der).digest("hex"),
            outs: {
                ...inputs,
                algorithm,
                rsaBits,
                ecdsaCurve: inputs.ecdsaCurve ?? "P224",
                privateKeyPem: privateKey.export({ type: "pkcs1", format: "pem" }),
                privateKeyPemPkcs8: privateKey.export({ type: "pkcs8", format: "pem" }),
                privateKeyOpenssh: "",
                publicKeyPem,
                publicKeyOpenssh: "",
                publicKeyFingerprintMd5: "",
                publicKeyFingerprintSha256: "",
            },
        };
    },
    "tls:index/selfSignedCert:SelfSignedCert": (inputs) =>
        withTmp((dir) => {
            fs.writeFileSync(path.join(dir, "key.pem"), inputs.privateKeyPem, { mode: 0o600 });
            fs.writeFileSync(path.join(dir, "ext"), extensions(inputs).join("\n") + "\n");
            const days = String(Math.max(1, Math.ceil((inputs.validityPeriodHours ?? 24) / 24)));
            openssl(["req", "-x509", "-new", "-key", "key.pem", "-subj", subjectString(inputs.subject), "-days", days, "-sha256", "-set_serial", "0x" + crypto.randomBytes(16).toString("hex"), "-extensions", "v3", "-config", writeReqConfig(dir, inputs), "-out", "cert.pem"], dir);
            const certPem = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
            const id = BigInt("0x" + new crypto.X509Certificate(certPem).serialNumber).toString();
            return { id, outs: { ...inputs, certPem, keyAlgorithm: keyAlgorithm(inputs.privateKeyPem), ...validity(inputs, certPem) } };
        }),
    "tls:index/certRequest:CertRequest": (inputs) =>
        withTmp((dir) => {
            fs.writeFileSync(path.join(dir, "key.pem"), inputs.privateKeyPem, { mode: 0o600 });
            const san = [...(inputs.dnsNames ?? []).map((d) => `DNS:${d}`), ...(inputs.ipAddresses ?? []).map((i) => `IP:${i}`), ...(inputs.uris ?? []).map((u) => `URI:${u}`)];
            const args = ["req", "-new", "-key", "key.pem", "-subj", subjectString(inputs.subject), "-sha256", "-out", "csr.pem"];
            if (san.length) args.push("-addext", `subjectAltName=${san.join(",")}`);
            openssl(args, dir);
            const certRequestPem = fs.readFileSync(path.join(dir, "csr.pem"), "utf8");
            return { id: crypto.createHash("sha1").update(certRequestPem).digest("hex"), outs: { ...inputs, certRequestPem, keyAlgorithm: keyAlgorithm(inputs.privateKeyPem) } };
        }),
    "tls:index/locallySignedCert:LocallySignedCert": (inputs) =>
        withTmp((dir) => {
            fs.writeFileSync(path.join(dir, "csr.pem"), inputs.certRequestPem);
            fs.writeFileSync(path.join(dir, "ca.pem"), inputs.caCertPem);
            fs.writeFileSync(path.join(dir, "ca-key.pem"), inputs.caPrivateKeyPem, { mode: 0o600 });
            const ext = extensions(inputs);
            ext.push("authorityKeyIdentifier=keyid");
            fs.writeFileSync(path.join(dir, "ext"), ext.join("\n") + "\n");
            const days = String(Math.max(1, Math.ceil((inputs.validityPeriodHours ?? 24) / 24)));
            openssl(["x509", "-req", "-in", "csr.pem", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-set_serial", "0x" + crypto.randomBytes(16).toString("hex"), "-days", days, "-sha256", "-copy_extensions", "copy", "-extfile", "ext", "-out", "cert.pem"], dir);
            const certPem = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
            const id = BigInt("0x" + new crypto.X509Certificate(certPem).serialNumber).toString();
            return { id, outs: { ...inputs, certPem, caKeyAlgorithm: keyAlgorithm(inputs.caPrivateKeyPem), ...validity(inputs, certPem) } };
        }),
};

function writeReqConfig(dir, inputs) {
    const file = path.join(dir, "req.cnf");
    fs.writeFileSync(file, ["[req]", "distinguished_name=dn", "[dn]", "[v3]", ...extensions(inputs)].join("\n") + "\n");
    return file;
}

/** The engine sends secrets wrapped ({ <sig>: <secret sig>, value }) since the server accepts secrets. */
function unwrap(v) {
    if (Array.isArray(v)) return v.map(unwrap);
    if (v && typeof v === "object") {
        if (v["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") return unwrap(v.value);
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
    }
    return v;
}

const typeOf = (urn) => urn.split("::")[2].split("$").pop();

const INPUTS = {
    "tls:index/privateKey:PrivateKey": ["algorithm", "rsaBits", "ecdsaCurve"],
    "tls:index/selfSignedCert:SelfSignedCert": ["privateKeyPem", "subject", "isCaCertificate", "allowedUses", "validityPeriodHours", "dnsNames", "ipAddresses", "uris", "earlyRenewalHours", "setSubjectKeyId", "setAuthorityKeyId"],
    "tls:index/certRequest:CertRequest": ["privateKeyPem", "subject", "dnsNames", "ipAddresses", "uris"],
    "tls:index/locallySignedCert:LocallySignedCert": ["certRequestPem", "caPrivateKeyPem", "caCertPem", "isCaCertificate", "allowedUses", "validityPeriodHours", "earlyRenewalHours", "setSubjectKeyId"],
};

const DEFAULTED = { algorithm: 1, rsaBits: 1, ecdsaCurve: 1 };

const tlsProvider = {
    version: VERSION,
    async check(_urn, _olds, news) {
        return { inputs: unwrap(news) };
    },
    async diff(_id, urn, oldsIn, newsIn) {
        const olds = unwrap(oldsIn);
        const news = unwrap(newsIn);
        // The tls provider replaces on any input change.
        const keys = INPUTS[typeOf(urn)] ?? Object.keys(news);
        // Outputs carry defaults the program did not set (ecdsaCurve, …): an input left unset is no change.
        const replaces = keys.filter((k) => news[k] !== undefined || !(k in DEFAULTED) ? JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null) : false);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
    async create(urn, inputs) {
        const make = resources[typeOf(urn)];
        if (!make) throw new Error(`tls stand-in: unsupported resource type ${typeOf(urn)}`);
        return make(unwrap(inputs));
    },
    async read(id, _urn, props) {
        return { id, props: unwrap(props) };
    },
    async delete() {},
};

provider.main(tlsProvider, process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
});
