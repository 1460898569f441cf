/**
 * IPv4 and IPv6 addresses and CIDR blocks: parsing, containment and overlap, as pure functions.
 *
 * Addresses are held as bigints so one code path serves both families. Parsing is strict, the way cloud
 * APIs are: no leading zeros in IPv4 octets (is "010" octal or decimal?), no host bits set in a CIDR block
 * ("10.1.1.5/24" is rejected with a suggestion of "10.1.1.0/24").
 */

export type IpFamily = 4 | 6;

export interface IpAddress {
    family: IpFamily;
    value: bigint;
}

export interface Cidr {
    family: IpFamily;
    /** The network address (host bits all zero). */
    network: bigint;
    prefix: number;
    /** Canonical text, such as "10.1.0.0/16" or "2001:db8::/56". */
    text: string;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

/** A parse error whose message says what is wrong with the text (used as-is in config errors). */
export class CidrError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CidrError";
    }
}

function parseIpv4(text: string): bigint | undefined {
    const parts = text.split(".");
    if (parts.length !== 4) return undefined;
    let value = 0n;
    for (const part of parts) {
        if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
        const octet = Number(part);
        if (octet > 255) return undefined;
        value = (value << 8n) | BigInt(octet);
    }
    return value;
}

function parseIpv6(text: string): bigint | undefined {
    if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
    // An embedded IPv4 tail ("::ffff:10.0.0.1") stands for the last two groups.
    let groupsText = text;
    let tail: number[] = [];
    if (text.includes(".")) {
        const lastColon = text.lastIndexOf(":");
        const v4 = parseIpv4(text.slice(lastColon + 1));
        if (v4 === undefined) return undefined;
        tail = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
        const groupsPart = text.slice(0, lastColon + 1); // ends with ":"
        groupsText = groupsPart.endsWith("::") ? groupsPart : groupsPart.slice(0, -1);
    }
    const halves = groupsText.split("::");
    if (halves.length > 2) return undefined;
    const toGroups = (s: string): number[] | undefined => {
        if (s === "") return [];
        const out: number[] = [];
        for (const g of s.split(":")) {
            if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
            out.push(parseInt(g, 16));
        }
        return out;
    };
    const head = toGroups(halves[0]);
    const rest = halves.length === 2 ? toGroups(halves[1]) : [];
    if (head === undefined || rest === undefined) return undefined;
    const explicit = head.length + rest.length + tail.length;
    let groups: number[];
    if (halves.length === 2) {
        if (explicit > 7) return undefined; // "::" stands for at least one group
        groups = [...head, ...new Array(8 - explicit).fill(0), ...rest, ...tail];
    } else {
        if (explicit !== 8) return undefined;
        groups = [...head, ...tail];
    }
    return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parses an IPv4 ("10.0.0.10") or IPv6 ("2001:db8::1") address; throws CidrError otherwise. */
export function parseAddress(text: string): IpAddress {
    if (typeof text !== "string") throw new CidrError("must be an IP address given as a string");
    const t = text.trim();
    if (t.includes(":")) {
        const value = parseIpv6(t);
        if (value === undefined) throw new CidrError(`"${text}" is not a valid IPv6 address`);
        return { family: 6, value };
    }
    const value = parseIpv4(t);
    if (value === undefined) throw new CidrError(`"${text}" is not a valid IPv4 address (four numbers 0-255 without leading zeros, such as 10.0.0.10)`);
    return { family: 4, value };
}

/** Canonical text of an address: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as "::"). */
export function formatAddress(family: IpFamily, value: bigint): string {
    if (family === 4) {
        return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join(".");
    }
    const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(16 * (7 - i))) & 0xffffn));
    let bestStart = -1;
    let bestLength = 1; // a single zero group is not compressed
    for (let i = 0; i < 8; ) {
        if (groups[i] !== 0) {
            i++;
            continue;
        }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > bestLength) {
            bestStart = i;
            bestLength = j - i;
        }
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (bestStart < 0) return hex.join(":");
    return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

const mask = (family: IpFamily, prefix: number): bigint => {
    const bits = BigInt(BITS[family]);
    const host = bits - BigInt(prefix);
    return ((1n << bits) - 1n) ^ ((1n << host) - 1n);
};

/**
 * Parses "address/prefix"; throws CidrError naming the problem: not CIDR notation, a bad address, a
 * prefix out of range, or host bits set (with the block that was probably meant).
 */
export function parseCidr(text: string): Cidr {
    if (typeof text !== "string") throw new CidrError("must be a CIDR block given as a string, such as 10.1.0.0/16");
    const t = text.trim();
    const slash = t.indexOf("/");
    if (slash < 0 || !/^\d{1,3}$/.test(t.slice(slash + 1))) {
        throw new CidrError(`"${text}" is not a CIDR block; write address/prefix-length, such as 10.1.0.0/16`);
    }
    const address = parseAddress(t.slice(0, slash));
    const prefix = Number(t.slice(slash + 1));
    const bits = BITS[address.family];
    if (prefix > bits) throw new CidrError(`"${text}" has prefix length /${prefix}; IPv${address.family} allows /0 to /${bits}`);
    const network = address.value & mask(address.family, prefix);
    const canonical = `${formatAddress(address.family, network)}/${prefix}`;
    if (network !== address.value) {
        throw new CidrError(`"${text}" has host bits set; did you mean ${canonical}?`);
    }
    return { family: address.family, network, prefix, text: canonical };
}

/** Number of addresses in a block. */
export function cidrSize(cidr: Cidr): bigint {
    return 1n << BigInt(BITS[cidr.family] - cidr.prefix);
}

/** Whether `inner` (a block or a single address) lies entirely inside `outer`. Different families never do. */
export function cidrContains(outer: Cidr, inner: Cidr | IpAddress): boolean {
    if (outer.family !== inner.family) return false;
    const innerPrefix = "prefix" in inner ? inner.prefix : BITS[inner.family];
    const innerNetwork = "network" in inner ? inner.network : inner.value;
    if (innerPrefix < outer.prefix) return false;
    return (innerNetwork & mask(outer.family, outer.prefix)) === outer.network;
}

/** Whether two blocks share at least one address. Different families never do. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    return cidrContains(a, b) || cidrContains(b, a);
}

/**
 * The `index`-th block of `newBits` more prefix bits inside `parent` (Terraform's cidrsubnet), either family:
 * cidrSubnet(10.0.0.0/16, 2, 3) = 10.0.192.0/18.
 */
export function cidrSubnet(parent: Cidr, newBits: number, index: number): Cidr {
    const prefix = parent.prefix + newBits;
    const bits = BITS[parent.family];
    if (prefix > bits) throw new CidrError(`cannot split ${parent.text} into /${prefix} blocks`);
    if (!Number.isInteger(index) || index < 0 || BigInt(index) >= 1n << BigInt(newBits)) {
        throw new CidrError(`block index ${index} does not fit in ${newBits} bits (${parent.text} has ${2 ** newBits} /${prefix} blocks)`);
    }
    const network = parent.network + (BigInt(index) << BigInt(bits - prefix));
    return { family: parent.family, network, prefix, text: `${formatAddress(parent.family, network)}/${prefix}` };
}
