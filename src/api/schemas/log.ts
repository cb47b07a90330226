/** GET /ports/:id/log: console lines by seq. */
import Type from "typebox";

/** The largest tail= a GET /log answers. */
export const MAX_LOG_TAIL = 1000;

export const LogQuery = Type.Object(
  {
    since: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          "the first line's seq (pass the previous answer's next); past the current end it is the end. " +
          "Absent: the oldest retained line, or with waitMs the current end (only lines printed after the call)",
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
    waitMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 120_000,
        description: "long-poll: wait up to this long for a (matching) line at or after since",
      }),
    ),
    match: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description:
          "RE2 regular expression a line must match. In a query string + means a space: encode it as %2B",
      }),
    ),
    tail: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_LOG_TAIL,
        description: "the last N lines and the current next, in one call; not with since, waitMs or match",
      }),
    ),
  },
  { additionalProperties: false },
);

export const LogResponse = Type.Object({
  lines: Type.Array(Type.Object({ seq: Type.Integer(), ts: Type.String(), text: Type.String() })),
  next: Type.Integer({ description: "pass as since to read on (the current end when no line was left)" }),
});
