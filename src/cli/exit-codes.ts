/** The client commands' exit codes: shared with the SSH door's exec requests, so they live in sysrq/. */
export * from "../sysrq/exit-codes.js";
