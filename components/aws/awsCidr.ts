/**
 * The AWS network's address plan: checking the VPC and public-access blocks against AWS's limits, and
 * carving the VPC's IPv4 block and its Amazon-provided IPv6 /56 into per-zone subnets. Parsing and
 * arithmetic are components/common/cidr.ts's; no Pulumi here, so every rule is unit-tested.
 */
import { Cidr, CidrError, cidrSubnet, parseCidr } from "../common/cidr";

/**
 * Parses an IPv4 block with the shared CIDR rules (components/common/cidr.ts); returns the problem as text instead
 * of throwing, ready for a config message.
 */
export function parseIpv4Block(text: string): Cidr | string {
    try {
        const cidr = parseCidr(text);
        if (cidr.family !== 4) return `"${text}" is an IPv6 block; an IPv4 CIDR such as "10.0.0.0/16" is needed here`;
        return cidr;
    } catch (e) {
        if (e instanceof CidrError) return e.message;
        throw e;
    }
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
    const vpc = parseCidr(vpcCidr);
    const k = bitsFor(zones + 1);
    const lastPart = cidrSubnet(vpc, k, 2 ** k - 1);
    const publicBits = bitsFor(zones);
    return {
        private: Array.from({ length: zones }, (_, i) => cidrSubnet(vpc, k, i).text),
        public: Array.from({ length: zones }, (_, i) => cidrSubnet(lastPart, publicBits, i).text),
    };
}

/** Why `vpcCidr` cannot hold `zones` zones of subnets, or undefined if it can. */
export function checkVpcCidr(vpcCidr: string, zones: number): string | undefined {
    const parsed = parseIpv4Block(vpcCidr);
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
    const parsed = parseIpv4Block(cidr);
    return typeof parsed === "string" ? parsed : undefined;
}

/** The `index`-th /64 of a VPC's IPv6 block (Amazon provides a /56: 256 of them). */
export function ipv6Subnet64(vpcIpv6Cidr: string, index: number): string {
    let parsed: Cidr;
    try {
        parsed = parseCidr(vpcIpv6Cidr);
    } catch (e) {
        throw new Error(`VPC IPv6 block: ${(e as Error).message}`);
    }
    if (parsed.family !== 6) throw new Error(`VPC IPv6 block: "${vpcIpv6Cidr}" is not an IPv6 block`);
    if (parsed.prefix > 64) throw new Error(`VPC IPv6 block ${vpcIpv6Cidr} is smaller than a /64`);
    const count = 2 ** (64 - parsed.prefix);
    if (!Number.isInteger(index) || index < 0 || index >= count) {
        throw new Error(`IPv6 subnet index ${index} is outside the ${count} /64s of ${vpcIpv6Cidr}`);
    }
    return cidrSubnet(parsed, 64 - parsed.prefix, index).text;
}
