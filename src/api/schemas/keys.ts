/** GET /sysrq/keys: the SysRq key table. */
import Type from "typebox";

export const SysrqKeySchema = Type.Object({
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

export const SysrqKeysResponse = Type.Object({ keys: Type.Array(SysrqKeySchema) });
