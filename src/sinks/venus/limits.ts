/**
 * The charge current limit of a charger: no text-frame value, so it is read over HEX, with the
 * bounds a client may set it within, published as a GX publishes a D-Bus item that has them:
 * `{"value": 15, "min": 0, "max": 35}` (dbus-flashmq `Item::as_json`). victron-mqtt takes the
 * range of its "Charge current limit" number from them. A charger whose source does not let the
 * limit be written shows a range of its value alone: the one way the layout has to say it for a
 * solar charger (victron-mqtt knows no "is adjustable" path for one), so the number cannot be
 * moved to a value that would only be refused.
 */
import type { SettingsAccess } from "../../device_settings.ts";

/** What a client may set a path to. */
export interface Bounds {
  min: number;
  max: number;
}

/** The limit and its bounds, read now; null when the device does not give it. */
export async function readChargeLimit(
  settings: SettingsAccess | undefined,
  node: string,
): Promise<{ value: number; bounds?: Bounds } | null> {
  const report = await settings?.read(node, { names: ["max_charge_current"] });
  const reading = report?.settings.find((s) => s.name === "max_charge_current");
  const value = reading?.value;
  if (typeof value !== "number") return null;
  // Bounds not known: none said (victron-mqtt then takes its product table's).
  const bounds = reading?.writable === false
    ? { min: value, max: value }
    : reading?.max === undefined
    ? undefined
    : { min: reading.min ?? 0, max: reading.max };
  return { value, bounds };
}

/** A `{"value": ...}` payload with the bounds added (an empty one stays empty). */
export function withBounds(payload: string, bounds: Bounds | undefined): string {
  if (!bounds || payload === "") return payload;
  try {
    const parsed = JSON.parse(payload);
    if (typeof parsed !== "object" || parsed === null) return payload;
    return JSON.stringify({ ...parsed, min: bounds.min, max: bounds.max });
  } catch {
    return payload;
  }
}
