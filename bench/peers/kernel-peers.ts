/**
 * COUNT telnet peers that answer BREAK + key like a kernel (test/kit/kernel-peer.ts), run as a
 * process of their own so case 4's HTTP client and the peers do not share one event loop. Prints the
 * peers' TCP ports as one JSON line; exits when stdin closes.
 */
import { startKernelPeer } from "../../test/kit/index.js";

const count = Number(process.argv[2]);
const peers = await Promise.all(Array.from({ length: count }, () => startKernelPeer(0)));
process.stdout.write(`${JSON.stringify(peers.map((peer) => peer.port))}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void Promise.all(peers.map((peer) => peer.close())).then(() => process.exit(0));
});
