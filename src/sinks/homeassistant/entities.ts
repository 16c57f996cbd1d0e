/**
 * Discovery configs and topics of a device's writable entities (controls.ts), its
 * "Confirm pending change" button and its "Last setting write" sensor, beside its sensors.
 */
import type { Sample } from "../../model.ts";
import { CONFIRM_KEY, type DeviceControls, type WriteResult } from "./commands.ts";

/** A retained or plain message: topic, payload, retain. */
export type Message = [string, string, boolean];

/** What every entity of a device shares. */
export interface Discovered {
  /** `homeassistant` */
  discoveryPrefix: string;
  /** `<base_topic>/<gateway>` */
  base: string;
  /** The gateway's object id (in unique ids). */
  gateway: string;
  /** The device's object id. */
  obj: string;
  /** The availability list (the gateway's and the device's). */
  availability: unknown[];
  device: Record<string, unknown>;
}

/** Topic and id text from a name: lower case, `_` for anything else. */
export function objectId(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
}

/** The `device` block of a node's entities, from its sample's tags. */
export function deviceBlock(sample: Sample, gatewayId: string): Record<string, unknown> {
  const tags = sample.tags ?? {};
  const device: Record<string, unknown> = {
    identifiers: [`edge-gateway_${objectId(gatewayId)}_${objectId(sample.node)}`],
    name: sample.node,
    manufacturer: "Victron Energy",
    model: tags.product ?? "VE.Direct device",
  };
  if (tags.serial) device.serial_number = tags.serial;
  if (tags.firmware) device.sw_version = tags.firmware;
  return device;
}

/** The settings state topic of a device: JSON of what it holds, retained. */
export function settingsTopic(d: { base: string; obj: string }): string {
  return `${d.base}/${d.obj}/settings`;
}

/** The topic of the last command's result (the "Last setting write" sensor), retained. */
export function resultTopic(d: { base: string; obj: string }): string {
  return `${d.base}/${d.obj}/settings/result`;
}

function entity(d: Discovered, component: string, key: string, fields: Record<string, unknown>) {
  const config = {
    ...fields,
    unique_id: `edge_gateway_${d.gateway}_${d.obj}_${key}`,
    object_id: `${d.obj}_${key}`,
    availability: d.availability,
    availability_mode: "all",
    device: d.device,
  };
  return [
    `${d.discoveryPrefix}/${component}/${d.obj}/${key}/config`,
    JSON.stringify(config),
    true,
  ] as Message;
}

/** Discovery configs of a device's writable entities, its confirm button and result sensor. */
export function controlDiscovery(d: Discovered, device: DeviceControls): Message[] {
  if (device.controls.length === 0) return [];
  const state = settingsTopic(d);
  const out = device.controls.map((c) =>
    entity(d, c.component, c.key, {
      ...c.fields,
      state_topic: state,
      command_topic: `${d.base}/set/${d.obj}/${c.key}`,
      entity_category: "config",
    })
  );
  out.push(
    entity(d, "button", CONFIRM_KEY, {
      name: "Confirm pending change",
      command_topic: `${d.base}/set/${d.obj}/${CONFIRM_KEY}`,
      payload_press: "PRESS",
      icon: "mdi:check-decagram",
      entity_category: "config",
      json_attributes_topic: resultTopic(d),
    }),
    entity(d, "sensor", "last_setting_write", {
      name: "Last setting write",
      state_topic: resultTopic(d),
      value_template: "{{ value_json.outcome }}",
      json_attributes_topic: resultTopic(d),
      icon: "mdi:history",
      entity_category: "diagnostic",
    }),
  );
  return out;
}

/** The messages that show what a device holds now, and (after a command) what became of it. */
export function showResult(
  d: { base: string; obj: string },
  device: DeviceControls,
  result?: WriteResult,
): Message[] {
  const out: Message[] = [[settingsTopic(d), JSON.stringify(device.values), true]];
  if (result) out.push([resultTopic(d), JSON.stringify(result), true]);
  return out;
}
