/**
 * GET /sysrq/keys: the kernel's SysRq key table (src/sysrq/keys.ts) as data, grouped the way the web
 * console's dialog shows it, with the role each key needs (the same rule authorizeKeys applies).
 * The page builds its buttons from this answer, so it has no key table of its own to drift.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type, { type Static } from "typebox";
import { KEY_TABLE, SysrqBit, bitMeaning, type KeyInfo } from "../../sysrq/keys.js";
import { roleForKey } from "../../clients/roles.js";
import { AUTH_ERRORS, errorsOf } from "../schemas.js";

const GROUPS = ["harmless", "dumps", "destructive"] as const;
type Group = (typeof GROUPS)[number];

const SysrqKeySchema = Type.Object({
  key: Type.String({ description: "the key, case-sensitive (R is not r)" }),
  action: Type.String({ description: 'the text the kernel prints when it runs the key ("sysrq: <action>")' }),
  group: Type.Union([Type.Literal("harmless"), Type.Literal("dumps"), Type.Literal("destructive")], {
    description:
      "destructive: kills, crashes, reboots or powers off; dumps: debugging dumps; harmless: the rest",
  }),
  destructive: Type.Boolean({ description: "sending it needs the admin role and the page asks first" }),
  role: Type.Union([Type.Literal("operate"), Type.Literal("admin")], {
    description: "the least role a token needs to send this key",
  }),
  bit: Type.Union([Type.Integer(), Type.Null()], {
    description: "the kernel.sysrq bit that enables the key; null when it always passes (h)",
  }),
  bitMeaning: Type.Union([Type.String(), Type.Null()], { description: "what that bit enables" }),
});

const SysrqKeysResponse = Type.Object({ keys: Type.Array(SysrqKeySchema) });

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
