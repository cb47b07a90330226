/** The three roles, their order, and which role a SysRq key needs. */
import type { Role } from "../config/types.js";
import { keyInfo } from "../sysrq/keys.js";

const RANK: Readonly<Record<Role, number>> = { read: 0, operate: 1, admin: 2 };

export function roleAtLeast(held: Role, needed: Role): boolean {
  return RANK[held] >= RANK[needed];
}

/** Destructive keys (b c o e i k f: reboot, crash, power off, kill, SAK, OOM kill) need admin. */
export function roleForKey(key: string): "operate" | "admin" {
  return keyInfo(key).destructive === true ? "admin" : "operate";
}

export function roleForKeys(keys: string): "operate" | "admin" {
  return [...keys].some((key) => roleForKey(key) === "admin") ? "admin" : "operate";
}
