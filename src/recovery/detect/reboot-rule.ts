/**
 * The reboot rule: a new boot banner after the console printed something, when neither we (a power
 * action, SysRq b/o/c) nor the kernel (`reboot: Restarting system`) announced a restart, is a reboot
 * nobody expected. The first banner after (re)connect never is: it may be the boot we connected into.
 */
import { ANNOUNCED_REBOOT, bannerOf, type Banner } from "./headers.js";
import type { OwnAction } from "./own-window.js";

/** Keys after which a new boot banner is what we asked for. */
const REBOOTING_KEYS = new Set(["b", "o", "c"]);

export class RebootRule {
  private lastBanner: Banner | "connected" = "connected";
  private outputSinceBanner = false;
  private expected = false;

  /** The port (re)connected: the next banner may be a boot already under way. */
  connected(): void {
    this.lastBanner = "connected";
    this.outputSinceBanner = false;
  }

  action(action: OwnAction): void {
    if (action.kind === "power" || (action.kind === "key" && REBOOTING_KEYS.has(action.key)))
      this.expected = true;
  }

  /** A line known to be no banner (the prefilter passed it over) went by. */
  output(): void {
    this.outputSinceBanner = true;
  }

  /**
   * A decoded line (`header`: it already opens an incident, so it is no banner): true when it is the
   * banner of a boot nobody expected.
   */
  line(message: string, text: string, header: boolean): boolean {
    const banner = header ? null : bannerOf(message, text);
    if (banner === null) {
      this.outputSinceBanner = true;
      if (ANNOUNCED_REBOOT.test(message)) this.expected = true;
      return false;
    }
    const unexpected =
      !this.expected &&
      this.outputSinceBanner &&
      (this.lastBanner === "linux" || (this.lastBanner !== "connected" && banner === "firmware"));
    this.lastBanner = banner;
    this.outputSinceBanner = false;
    this.expected = false;
    return unexpected;
  }
}
