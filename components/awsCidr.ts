/**
 * Pure address arithmetic for the AWS network: parsing and checking CIDR blocks, and carving a VPC's IPv4
 * block and its Amazon-provided IPv6 /56 into per-zone subnets. No Pulumi here, so every rule is unit-tested.
 */

export interface Ipv4Cidr {
    /** Network address as an unsigned 32-bit integer. */
    address: number;
    prefix: number;
}

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Parses "a.b.c.d/n"; returns a problem (why it is not an IPv4 CIDR) instead of throwing. */
export function parseIpv4Cidr(text: string): Ipv4Cidr | string {
    if (typeof text !== "string") return "must be a string such as \"10.0.0.0/16\"";
    const m = IPV4_CIDR.exec(text.trim());
    if (!m) {
        if (text.includes(":")) return `"${text}" is an IPv6 block; an IPv4 CIDR such as "10.0.0.0/16" is needed here`;
        return `"${text}" is not an IPv4 CIDR; write it as a.b.c.d/n, such as "10.0.0.0/16"`;
    }
    const octets = m.slice(1, 5).map(Number);
    if (octets.some((o) => o > 255) || m.slice(1, 5).some((o) => o.length > 1 && o.startsWith("0"))) {
        return `"${text}" is not an IPv4 CIDR: each of the four numbers must be 0–255, without leading zeros`;
    }
    const prefix = Number(m[5]);
    if (prefix > 32) return `"${text}" is not an IPv4 CIDR: the prefix length must be 0–32`;
    const address = octets.reduce((acc, o) => acc * 256 + o, 0);
    const hostBits = 32 - prefix;
    const network = hostBits === 32 ? 0 : Math.floor(address / 2 ** hostBits) * 2 ** hostBits;
    if (network !== address) {
        return `"${text}" has host bits set; the network address is ${formatIpv4({ address: network, prefix })}`;
    }
    return { address, prefix };
}

export function formatIpv4(cidr: Ipv4Cidr): string {
    const a = cidr.address;
    return `${Math.floor(a / 2 ** 24) % 256}.${Math.floor(a / 2 ** 16) % 256}.${Math.floor(a / 2 ** 8) % 256}.${a % 256}/${cidr.prefix}`;
}

/** The `index`-th block of `newBits` more prefix bits inside `parent` (Terraform's cidrsubnet). */
export function ipv4Subnet(parent: Ipv4Cidr, newBits: number, index: number): Ipv4Cidr {
    const prefix = parent.prefix + newBits;
    if (prefix > 32) throw new Error(`cannot split /${parent.prefix} into /${prefix}`);
    if (index < 0 || index >= 2 ** newBits) throw new Error(`subnet index ${index} does not fit in ${newBits} bits`);
    return { address: parent.address + index * 2 ** (32 - prefix), prefix };
}

/** Smallest number of bits that can number `count` items. */
const bitsFor = (count: number) => Math.max(0, Math.ceil(Math.log2(count)));

/** AWS accepts VPC blocks from /16 to /28; below /24 there is no room for two zones of usable subnets. */
export const VPC_PREFIX_MIN = 16;
export const VPC_PREFIX_MAX = 24;
/** The smallest subnet AWS allows. */
export const SUBNET_PREFIX_MAX = 28;

export interface SubnetPlan {
    /** One private subnet per zone (nodes, pods of IPv4 clusters, internal load balancers). */
    private: string[];
    /** One public subnet per zone (NAT gateway, internet-facing load balancers). */
    public: string[];
}

/**
 * Splits the VPC's IPv4 block into one private and one public subnet per zone. Private subnets get most of
 * the space (IPv4 pods take VPC addresses): the block is cut into 2^k equal parts with 2^k > zones, the first
 * `zones` parts are the private subnets and the last part is cut again into the public subnets.
 *
 * 10.0.0.0/16, 2 zones → private /18 ×2 (10.0.0.0, 10.0.64.0), public /19 ×2 (10.0.192.0, 10.0.224.0).
 * 10.0.0.0/16, 3 zones → private /18 ×3, public /20 ×3 (10.0.192.0, 10.0.208.0, 10.0.224.0).
 */
export function planIpv4Subnets(vpcCidr: string, zones: number): SubnetPlan {
    const problem = checkVpcCidr(vpcCidr, zones);
    if (problem) throw new Error(problem);
    const vpc = parseIpv4Cidr(vpcCidr) as Ipv4Cidr;
    const k = bitsFor(zones + 1);
    const lastPart = ipv4Subnet(vpc, k, 2 ** k - 1);
    const publicBits = bitsFor(zones);
    return {
        private: Array.from({ length: zones }, (_, i) => formatIpv4(ipv4Subnet(vpc, k, i))),
        public: Array.from({ length: zones }, (_, i) => formatIpv4(ipv4Subnet(lastPart, publicBits, i))),
    };
}

/** Why `vpcCidr` cannot hold `zones` zones of subnets, or undefined if it can. */
export function checkVpcCidr(vpcCidr: string, zones: number): string | undefined {
    const parsed = parseIpv4Cidr(vpcCidr);
    if (typeof parsed === "string") return parsed;
    if (parsed.prefix < VPC_PREFIX_MIN || parsed.prefix > VPC_PREFIX_MAX) {
        return `"${vpcCidr}" is a /${parsed.prefix}; a VPC block must be /${VPC_PREFIX_MIN} to /${VPC_PREFIX_MAX} (AWS allows /16–/28, and smaller than /24 leaves no room for subnets in every zone)`;
    }
    const smallest = parsed.prefix + bitsFor(zones + 1) + bitsFor(zones);
    if (smallest > SUBNET_PREFIX_MAX) {
        return `"${vpcCidr}" is too small for ${zones} availability zones: the public subnets would be /${smallest}, smaller than the /${SUBNET_PREFIX_MAX} AWS allows; use a larger block or fewer zones`;
    }
    return undefined;
}

/** Checks a CIDR allowed to reach the public API endpoint (EKS takes IPv4 blocks there). */
export function checkPublicAccessCidr(cidr: string): string | undefined {
    const parsed = parseIpv4Cidr(cidr);
    return typeof parsed === "string" ? parsed : undefined;
}

// ---- IPv6 ------------------------------------------------------------------------------------------

export interface Ipv6Cidr {
    address: bigint;
    prefix: number;
}

/** Parses an IPv6 CIDR such as "2600:1f14:abc:de00::/56"; returns a problem instead of throwing. */
export function parseIpv6Cidr(text: string): Ipv6Cidr | string {
    const m = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(text.trim());
    if (!m) return `"${text}" is not an IPv6 CIDR`;
    const prefix = Number(m[2]);
    if (prefix > 128) return `"${text}": an IPv6 prefix length must be 0–128`;
    const halves = m[1].split("::");
    if (halves.length > 2) return `"${text}" uses "::" more than once`;
    const groups = (s: string) => (s === "" ? [] : s.split(":"));
    const head = groups(halves[0]);
    const tail = halves.length === 2 ? groups(halves[1]) : [];
    const missing = 8 - head.length - tail.length;
    if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return `"${text}" does not have 8 groups`;
    const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
    if (all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return `"${text}" has a group that is not 1–4 hex digits`;
    const address = all.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n);
    const hostBits = BigInt(128 - prefix);
    if ((address >> hostBits) << hostBits !== address) return `"${text}" has host bits set`;
    return { address, prefix };
}

/** Canonical text (RFC 5952: lowercase, no leading zeros, longest zero run as "::"). */
export function formatIpv6(cidr: Ipv6Cidr): string {
    const groups = Array.from({ length: 8 }, (_, i) => Number((cidr.address >> BigInt(16 * (7 - i))) & 0xffffn));
    let bestStart = -1;
    let bestLength = 1;
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
    const text =
        bestStart < 0
            ? hex.join(":")
            : `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
    return `${text}/${cidr.prefix}`;
}

/** The `index`-th /64 of a VPC's IPv6 block (Amazon provides a /56: 256 of them). */
export function ipv6Subnet64(vpcIpv6Cidr: string, index: number): string {
    const parsed = parseIpv6Cidr(vpcIpv6Cidr);
    if (typeof parsed === "string") throw new Error(`VPC IPv6 block: ${parsed}`);
    if (parsed.prefix > 64) throw new Error(`VPC IPv6 block ${vpcIpv6Cidr} is smaller than a /64`);
    const count = 2 ** (64 - parsed.prefix);
    if (!Number.isInteger(index) || index < 0 || index >= count) {
        throw new Error(`IPv6 subnet index ${index} is outside the ${count} /64s of ${vpcIpv6Cidr}`);
    }
    return formatIpv6({ address: parsed.address + (BigInt(index) << 64n), prefix: 64 });
}
