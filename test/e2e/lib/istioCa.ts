/**
 * Asks a real istiod's CA for a workload certificate, as a sidecar does: gRPC `CreateCertificate` on 15012
 * (istio.io/api security/v1alpha1 `IstioCertificateService`), TLS verified against the mesh's roots for
 * `istiod.istio-system.svc`, a Kubernetes service-account token (audience `istio-ca`) as bearer, and a CSR whose
 * SAN is the account's SPIFFE ID. The two messages are tiny, so they are encoded by hand:
 *   IstioCertificateRequest  { string csr = 1; int64 validity_duration = 3; }
 *   IstioCertificateResponse { repeated string cert_chain = 1; }
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { Kube, isBedAddress } from "./kube";

/** A protobuf varint (also for lib/podProcess.ts's Echo call). */
export function varint(n: number): Buffer {
    const out: number[] = [];
    while (n > 127) {
        out.push((n & 0x7f) | 0x80);
        n = Math.floor(n / 128);
    }
    out.push(n);
    return Buffer.from(out);
}

function encodeRequest(csr: string, validitySeconds: number): Buffer {
    const c = Buffer.from(csr, "utf8");
    return Buffer.concat([Buffer.from([0x0a]), varint(c.length), c, Buffer.from([0x18]), varint(validitySeconds)]);
}

/** The strings in field 1 of a protobuf message (IstioCertificateResponse's cert_chain, Istio's EchoResponse's message). */
export function decodeResponse(b: Buffer): string[] {
    const out: string[] = [];
    let i = 0;
    const readVarint = () => {
        let n = 0;
        let shift = 0;
        for (;;) {
            const byte = b[i++];
            n += (byte & 0x7f) * 2 ** shift;
            if (byte < 128) return n;
            shift += 7;
        }
    };
    while (i < b.length) {
        const tag = readVarint();
        const wire = tag & 7;
        if (wire === 2) {
            const len = readVarint();
            if (tag >> 3 === 1) out.push(b.subarray(i, i + len).toString("utf8"));
            i += len;
        } else if (wire === 0) readVarint();
        else throw new Error(`unexpected wire type ${wire} in IstioCertificateResponse`);
    }
    return out;
}

export interface WorkloadCert {
    /** Leaf first, then what istiod sent after it (its cert-chain.pem). */
    chain: string[];
    keyFile: string;
}

/** A workload certificate for `serviceAccount` in `namespace`, from istiod at `ip`:15012. */
export async function workloadCertFromIstiod(o: { kube: Kube; ip: string; rootsPem: string; namespace: string; serviceAccount: string; dir: string; label: string }): Promise<WorkloadCert> {
    if (!isBedAddress(o.ip)) throw new Error(`refusing to dial ${o.ip}: not an address of the bed`);
    const tr = await o.kube.create(`/api/v1/namespaces/${o.namespace}/serviceaccounts/${o.serviceAccount}/token`, {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: ["istio-ca"], expirationSeconds: 3600 },
    });
    const keyFile = path.join(o.dir, `${o.label}.key`);
    const csrFile = path.join(o.dir, `${o.label}.csr`);
    execFileSync(
        "openssl",
        ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", csrFile, "-subj", "/O=", "-addext", `subjectAltName=URI:spiffe://cluster.local/ns/${o.namespace}/sa/${o.serviceAccount}`],
        { stdio: "pipe" },
    );
    const csr = fs.readFileSync(csrFile, "utf8");
    const client = new grpc.Client(`${o.ip}:15012`, grpc.credentials.createSsl(Buffer.from(o.rootsPem)), {
        "grpc.ssl_target_name_override": "istiod.istio-system.svc",
        "grpc.default_authority": "istiod.istio-system.svc",
    });
    try {
        const md = new grpc.Metadata();
        md.set("authorization", `Bearer ${tr.status.token}`);
        const response = await new Promise<Buffer>((resolve, reject) =>
            client.makeUnaryRequest(
                "/istio.v1.auth.IstioCertificateService/CreateCertificate",
                (b: Buffer) => b,
                (b: Buffer) => b,
                encodeRequest(csr, 3600),
                md,
                { deadline: Date.now() + 20_000 },
                (err, value) => (err ? reject(new Error(`CreateCertificate at ${o.ip}:15012: ${err.message}`)) : resolve(value!)),
            ),
        );
        const chain = decodeResponse(response).flatMap((pem) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => `${p}\n`);
        if (chain.length === 0) throw new Error("CreateCertificate answered no certificate");
        return { chain, keyFile };
    } finally {
        client.close();
    }
}
