import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { QmpError } from "../../../src/control/qmp.js";
import { isNmiRefusal } from "../../../src/ports/nmi-support.js";

describe("QEMU refusing inject-nmi", () => {
  it("tells a machine without NMI from a QEMU that could not be reached", () => {
    // QEMU 7.2 on arm64 virt (QERR_UNSUPPORTED), and the wording of newer QEMUs.
    assert.ok(
      isNmiRefusal(new QmpError("this feature or command is not currently supported", "GenericError")),
    );
    assert.ok(isNmiRefusal(new QmpError("This machine does not support NMI", "GenericError")));
    assert.ok(isNmiRefusal(new QmpError("The command inject-nmi has not been found", "CommandNotFound")));
    assert.ok(!isNmiRefusal(new QmpError("QMP inject-nmi got no reply within 3000 ms")));
    assert.ok(!isNmiRefusal(new QmpError("cannot connect to QMP at /run/vm0-qmp.sock: ENOENT")));
    assert.ok(!isNmiRefusal(new Error("this feature or command is not currently supported")));
  });
});
