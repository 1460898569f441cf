/** The policy pack. Constructing a PolicyPack starts its server, so the policies live in ./policies. */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("istio-multicluster", { policies });
