/**
 * A TCP proxy on a second address of a bed cluster (BedCluster.apiServerAlternateAddress), forwarding to its API
 * server: the cluster's endpoint moves to a new address, as when a cloud gives an API server a new endpoint. TLS
 * passes through untouched (the API server's certificate covers both addresses). Both ends must be bed addresses.
 */
import * as net from "net";
import { isBedAddress } from "./kube";

export interface TcpProxy {
    /** Connections accepted so far. */
    readonly accepted: number;
    close(): Promise<void>;
}

export function startTcpProxy(listen: { host: string; port: number }, target: { host: string; port: number }): Promise<TcpProxy> {
    for (const a of [listen, target]) if (!isBedAddress(a.host)) throw new Error(`tcp proxy: ${a.host} is not an address of the bed`);
    let accepted = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
        accepted++;
        const upstream = net.connect(target);
        for (const s of [client, upstream]) {
            sockets.add(s);
            s.on("close", () => sockets.delete(s));
            s.on("error", () => (s === client ? upstream : client).destroy());
        }
        client.pipe(upstream).pipe(client);
    });
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host: listen.host, port: listen.port, exclusive: true }, () =>
            resolve({
                get accepted() {
                    return accepted;
                },
                close: () =>
                    new Promise<void>((done) => {
                        for (const s of sockets) s.destroy();
                        server.close(() => done());
                    }),
            }),
        );
    });
}
