/**
 * NMI where QEMU has none: an arm64 `virt` machine (no kernel needed, started paused) refuses QMP
 * inject-nmi. The daemon learns that from QEMU itself, says so in GET /ports/:id, and answers
 * 409 NMI_UNSUPPORTED (issue 13 item 15: it claimed nmi.available and gave a 502 with a doubled message).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { client } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";
import { freeTcpPort } from "../kit/index.js";

const skip = requireTools("qemu-system-aarch64");

interface NmiCapability {
  available: boolean;
  method?: string;
  reason?: string;
}

describe("NMI on QEMU's arm64 virt machine", { skip, timeout: 60_000 }, () => {
  let qemu: ChildProcess | undefined;
  let daemon: Daemon | undefined;
  let api: ReturnType<typeof client>;
  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-nmi-arm-"));
    const qmpPath = path.join(dir, "qmp.sock");
    const telnetPort = await freeTcpPort();
    qemu = spawn(
      "qemu-system-aarch64",
      [
        ["-M", "virt", "-S", "-display", "none", "-monitor", "none", "-nodefaults"],
        ["-chardev", `socket,id=s0,host=127.0.0.1,port=${telnetPort},server=on,wait=off,telnet=on`],
        ["-serial", "chardev:s0", "-qmp", `unix:${qmpPath},server=on,wait=off`],
      ].flat(),
      { stdio: "ignore" },
    );
    await waitUntil(
      () =>
        stat(qmpPath).then(
          () => true,
          () => false,
        ),
      10_000,
      "QEMU's QMP socket",
    );
    daemon = await startTestDaemon({
      listen: true,
      ports: [
        {
          id: "arm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort },
          qmp: { path: qmpPath },
          nmi: { kind: "qmp" },
        },
      ],
    });
    api = client(daemon.url);
  });
  after(async () => {
    await daemon?.close();
    qemu?.kill("SIGKILL");
  });

  it("says nmi.available false with QEMU's reason, and answers 409 NMI_UNSUPPORTED once", async () => {
    let nmi: NmiCapability | undefined;
    await waitUntil(
      async () => {
        nmi = (await api.get<{ capabilities: { nmi: NmiCapability } }>("/ports/arm0")).body.capabilities.nmi;
        return nmi.available === false;
      },
      10_000,
      "the port learns that this machine has no NMI",
    ).catch(() => undefined);
    assert.equal(nmi?.available, false, JSON.stringify(nmi));
    assert.equal(nmi?.method, "qmp");
    assert.match(nmi?.reason ?? "", /virt/);

    const res = await api.post<{ code: string; message: string }>("/ports/arm0/nmi", {});
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.code, "NMI_UNSUPPORTED");
    const sentences = res.body.message.split(/[.:;] /);
    assert.equal(new Set(sentences).size, sentences.length, `nothing said twice: ${res.body.message}`);
  });
});
