/** Reads a committed `Pulumi.<stack>.yaml` into the flat config map the Pulumi engine would hand the program. */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

export function loadStackConfig(stack: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const file = path.join(__dirname, "..", "..", `Pulumi.${stack}.yaml`);
    const doc = parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
    const config: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(doc.config ?? {})) {
        // The engine passes structured values as JSON and scalars as text.
        config[key] = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    }
    return { ...config, ...overrides };
}
