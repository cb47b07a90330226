/** prom-client's default metrics one by one (its package has no types for them): each registers its own. */
declare module "prom-client/lib/metrics/*.js" {
  import type { Registry } from "prom-client";
  const register: (registry: Registry, config?: { prefix?: string }) => void;
  export default register;
}
