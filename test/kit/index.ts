/**
 * The target kit: things that behave like the machine at the far end of a serial console, for the
 * tests, the bench (bench/) and the demo (scripts/demo.ts) to drive the daemon against. A fake kernel
 * behind the transport contract answers BREAK + key as serial_core.c and sysrq.c do (in-process
 * tests); the kernel peer puts that fake behind a real telnet socket (bench, real-socket tests); the
 * guest boots a real Linux kernel and busybox under QEMU with its ttyS0 on a telnet chardev, from an
 * image build-guest.sh builds and caches outside the repository; guest-stream is a known byte stream
 * that guest prints; capture-fixtures.ts (run by hand) records the guest's console answers into
 * test/fixtures/console/; ipmi-sim puts OpenIPMI's ipmi_sim (a real BMC: lanplus, SOL, power, NMI
 * through ipmi-nmi-module/) in front of that guest. Nothing here asserts: test helpers and assertions live in test/helpers.
 */
export { FakeKernel, FakeKernelTransport, type WireOp } from "./fake-kernel.js";
export { startKernelPeer, type KernelPeer } from "./kernel-peer.js";
export {
  READY_MARKER,
  ensureGuestImage,
  freeTcpPort,
  guestModules,
  startGuest,
  waitForFile,
  type Guest,
  type GuestModules,
  type GuestOptions,
} from "./guest.js";
export {
  MAKE_BLOCK,
  QUIET_CONSOLE,
  RECORD_BYTES,
  describeDivergence,
  expectedStream,
  streamCommand,
} from "./guest-stream.js";
export {
  BMC_USER,
  freeUdpPort,
  startBmc,
  type Bmc,
  type BmcOptions,
  type IpmitoolResult,
} from "./ipmi-sim.js";
export { ensureNmiModule } from "./ipmi-nmi-module.js";
