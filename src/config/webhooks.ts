/**
 * Resolves the `webhooks` list: one secret source each (env or file, read now; the value never goes
 * into a message), a URL Node can POST to, unique names and URLs, retry bounds that make sense.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { BridgeError } from "../errors.js";
import type { ConfigInput } from "./schema.js";
import {
  DEFAULT_WEBHOOK_MAX_PENDING,
  DEFAULT_WEBHOOK_RETRY,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  SecretValue,
  type WebhookConfig,
} from "./types.js";

/** Shorter HMAC keys are guessable offline from one signed body. */
const MIN_SECRET_CHARS = 16;

type WebhookInput = NonNullable<ConfigInput["webhooks"]>[number];

function configError(message: string): BridgeError {
  return new BridgeError("CONFIG_INVALID", message);
}

function readWebhookSecret(hook: WebhookInput, at: string, baseDir: string, env: NodeJS.ProcessEnv): string {
  if ((hook.secretEnv === undefined) === (hook.secretFile === undefined)) {
    throw configError(`${at}: give exactly one of secretEnv or secretFile (never the secret itself)`);
  }
  let secret: string;
  if (hook.secretFile !== undefined) {
    try {
      secret = readFileSync(path.resolve(baseDir, hook.secretFile), "utf8").trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      throw configError(`${at}.secretFile: cannot read ${hook.secretFile}: ${code}`);
    }
  } else {
    secret = (env[hook.secretEnv ?? ""] ?? "").trim();
    if (secret === "")
      throw configError(`${at}.secretEnv: environment variable ${hook.secretEnv ?? ""} is not set`);
  }
  const where = hook.secretFile !== undefined ? "secretFile" : "secretEnv";
  if (secret.length < MIN_SECRET_CHARS) {
    throw configError(`${at}.${where}: the secret must be at least ${MIN_SECRET_CHARS} characters long`);
  }
  return secret;
}

export function resolveWebhooks(
  input: ConfigInput["webhooks"],
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): WebhookConfig[] {
  const names = new Map<string, number>();
  const urls = new Map<string, number>();
  return (input ?? []).map((hook, index): WebhookConfig => {
    const at = `webhooks.${index}`;
    let url: URL;
    try {
      url = new URL(hook.url);
    } catch {
      throw configError(`${at}.url: not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw configError(`${at}.url: must be http:// or https://`);
    }
    const name = hook.name ?? url.host;
    const sameName = names.get(name);
    if (sameName !== undefined) {
      throw configError(
        `${at}.name: "${name}" is also webhooks.${sameName}'s name${hook.name === undefined ? " (the URL's host, the default): give each a name" : ""}`,
      );
    }
    names.set(name, index);
    const sameUrl = urls.get(url.href);
    if (sameUrl !== undefined) throw configError(`${at}.url: the same URL as webhooks.${sameUrl}`);
    urls.set(url.href, index);
    const retry = {
      initialMs: hook.retry?.initialMs ?? DEFAULT_WEBHOOK_RETRY.initialMs,
      maxMs: hook.retry?.maxMs ?? DEFAULT_WEBHOOK_RETRY.maxMs,
      forMs: hook.retry?.forMs ?? DEFAULT_WEBHOOK_RETRY.forMs,
    };
    if (retry.maxMs < retry.initialMs) {
      throw configError(`${at}.retry.maxMs: must be at least retry.initialMs (${retry.initialMs})`);
    }
    return {
      name,
      url: url.href,
      secret: new SecretValue(readWebhookSecret(hook, at, baseDir, env)),
      events: hook.events ?? null,
      timeoutMs: hook.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
      retry,
      maxPending: hook.maxPending ?? DEFAULT_WEBHOOK_MAX_PENDING,
    };
  });
}
