/** `GET /devices/<node>/settings` and `PUT /devices/<node>/settings/<name>`: device settings over HEX. */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { SettingError, type SettingFailure } from "../device_settings.ts";
import type { GatewayView } from "./view.ts";

const STATUS: Record<SettingFailure, 400 | 403 | 404 | 409 | 422 | 502 | 503 | 504> = {
  unknown_node: 404,
  unknown_setting: 404,
  not_writable: 403,
  invalid_value: 400,
  unsafe_value: 422,
  confirm_required: 409,
  not_identified: 409,
  unavailable: 503,
  busy: 503,
  timeout: 504,
  refused: 502,
};

const changeBody = z.strictObject({
  value: z.union([z.number(), z.string().max(100)]),
  /** Goes ahead with a change that stops charging or cuts a load (without it: a dry run, 409). */
  confirm: z.boolean().optional(),
});

function failure(c: Context, e: unknown): Response {
  if (!(e instanceof SettingError)) throw e;
  // A request that reached the device says what it holds, as the audit event does; a change
  // waiting for confirmation says what it would do: the caller asks its owner.
  const dryRun = e.reason === "confirm_required"
    ? { effect: e.effect, confirm_required: true }
    : {};
  return c.json({ error: e.message, reason: e.reason, ...e.attempt, ...dryRun }, STATUS[e.reason]);
}

/** Adds the settings routes; changing one needs the mutating token (`guard`). */
export function addSettingsRoutes(
  app: Hono,
  view: GatewayView,
  options: { guard: MiddlewareHandler; limit: MiddlewareHandler },
): void {
  app.get("/devices/:node/settings", async (c) => {
    try {
      return c.json(await view.settings.read(c.req.param("node")));
    } catch (e) {
      return failure(c, e);
    }
  });

  app.put("/devices/:node/settings/:name", options.guard, options.limit, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: 'body is not valid JSON: send {"value": ...}' }, 400);
    }
    const parsed = changeBody.safeParse(body);
    if (!parsed.success) {
      return c.json({
        error: 'send {"value": <number or choice>} (and "confirm": true to go ahead with ' +
          "what stops charging or cuts a load)",
        reason: "invalid_value",
      }, 400);
    }
    const agent = c.req.header("User-Agent")?.slice(0, 80) ?? "unknown client";
    try {
      const change = await view.settings.change(c.req.param("node"), {
        name: c.req.param("name"),
        value: parsed.data.value,
        confirm: parsed.data.confirm,
        by: `http token (${agent})`,
      });
      return c.json(change);
    } catch (e) {
      return failure(c, e);
    }
  });
}
