/**
 * GET /sysrq/keys: the kernel's SysRq key table (src/sysrq/keys.ts) as data, grouped the way the web
 * console's dialog shows it, with the role each key needs (the same rule authorizeKeys applies).
 * The page builds its buttons from this answer, so it has no key table of its own to drift.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Static } from "typebox";
import { KEY_TABLE, SysrqBit, bitMeaning, type KeyInfo } from "../../sysrq/keys.js";
import { roleForKey } from "../../clients/roles.js";
import { AUTH_ERRORS, errorsOf } from "../schemas/common.js";
import { SysrqKeysResponse } from "../schemas/keys.js";

const GROUPS = ["harmless", "dumps", "destructive"] as const;
type Group = (typeof GROUPS)[number];

function groupOf(info: KeyInfo): Group {
  if (info.destructive === true) return "destructive";
  return info.bit === SysrqBit.DUMP ? "dumps" : "harmless";
}

/** Harmless first (h, the help, at its head), then dumps, then destructive; table order within each. */
export function sysrqKeyList(): Static<typeof SysrqKeysResponse> {
  const rank = (info: KeyInfo): number => GROUPS.indexOf(groupOf(info)) * 2 + (info.key === "h" ? 0 : 1);
  const keys = [...KEY_TABLE]
    .sort((a, b) => rank(a) - rank(b)) // stable: table order among equals
    .map((info) => ({
      key: info.key,
      action: info.action,
      group: groupOf(info),
      destructive: info.destructive === true,
      role: roleForKey(info.key),
      bit: info.bit,
      bitMeaning: info.bit === null ? null : bitMeaning(info.bit),
    }));
  return { keys };
}

export const keyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const answer = sysrqKeyList();
  app.get(
    "/sysrq/keys",
    {
      config: { access: "read" },
      schema: {
        summary: "SysRq key table",
        description:
          "Every SysRq key the kernel knows, its action, group, kernel.sysrq bit and the role it needs.",
        tags: ["sysrq"],
        response: { 200: SysrqKeysResponse, ...errorsOf(AUTH_ERRORS) },
      },
    },
    () => answer,
  );
};
