/** Home Assistant discovery from simulated devices, on real mosquitto (the Venus layout: tests/sinks/venus). */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { configureLog } from "../../../src/log.ts";
import { waitFor } from "../../helpers/servers.ts";
import { startVan } from "../../helpers/van.ts";

configureLog({ level: "error" });

// Units Home Assistant accepts per device class (the subset our sensors use).
const UNITS: Record<string, string[]> = {
  voltage: ["V", "mV"],
  current: ["A", "mA"],
  power: ["W", "kW"],
  energy: ["Wh", "kWh"],
  battery: ["%"],
  temperature: ["°C", "°F"],
  duration: ["s", "min", "h", "d"],
};

/** Checks a discovery config the way Home Assistant's MQTT sensor schema would. */
function validateSensor(topic: string, config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (!/^homeassistant\/sensor\/[a-z0-9_]+\/[a-z0-9_]+\/config$/.test(topic)) {
    problems.push(`topic ${topic}`);
  }
  for (const key of ["state_topic", "unique_id", "name", "device"]) {
    if (!(key in config)) problems.push(`${topic}: missing ${key}`);
  }
  const dc = config.device_class as string | undefined;
  const unit = config.unit_of_measurement as string | undefined;
  if (dc && !(UNITS[dc] ?? []).includes(unit ?? "")) {
    problems.push(`${topic}: unit ${unit} for ${dc}`);
  }
  const sc = config.state_class as string | undefined;
  if (sc && !["measurement", "total", "total_increasing"].includes(sc)) {
    problems.push(`${topic}: state_class ${sc}`);
  }
  if (dc === "energy" && sc === "measurement") problems.push(`${topic}: energy needs total*`);
  const device = config.device as Record<string, unknown>;
  if (!Array.isArray(device?.identifiers) || device.identifiers.length === 0) {
    problems.push(`${topic}: identifiers`);
  }
  return problems;
}

Deno.test("a simulated MPPT and BMV appear in Home Assistant; unplug flips availability", async () => {
  const van = await startVan((url) =>
    `  ha: {type: homeassistant, url: "${url}", offline_after: 1s, max_wait: 20ms}`
  );
  const got = new Map<string, string>();
  const sub = await mqtt.connectAsync(van.url, { clientId: "test-observer" });
  sub.on("message", (t, p) => got.set(t, p.toString()));
  await sub.subscribeAsync(["homeassistant/#", "edge-gateway/#"]);
  await van.start();
  try {
    // Home Assistant discovery: valid configs for both devices.
    await waitFor(
      () =>
        got.has("homeassistant/sensor/mppt1/h19/config") &&
        got.has("homeassistant/sensor/bmv1/soc/config"),
      { what: "discovery configs of both devices" },
    );
    // The rest of the configs may still be on their way (the broker passes them on in order,
    // the two above need not be the last).
    const sensors = () => [...got].filter(([t]) => t.startsWith("homeassistant/sensor/"));
    await waitFor(() => sensors().length >= 20, { what: "20 sensor configs" });
    const configs = sensors();
    const problems = configs.flatMap(([t, p]) => validateSensor(t, JSON.parse(p)));
    assert.deepEqual(problems, []);
    // Writes off (the default): no writable entity, and no command topic listened to.
    const controls = [...got.keys()].filter((t) =>
      /^homeassistant\/(switch|select|number|button)\//.test(t)
    );
    assert.deepEqual(controls, []);
    const soc = JSON.parse(got.get("homeassistant/sensor/bmv1/soc/config")!);
    assert.equal(soc.device_class, "battery");
    assert.equal(soc.device.manufacturer, "Victron Energy");
    assert.equal(soc.device.model, "BMV-702");
    const yieldTotal = JSON.parse(got.get("homeassistant/sensor/mppt1/h19/config")!);
    assert.equal(yieldTotal.state_class, "total_increasing");
    assert.equal(yieldTotal.device.serial_number, "HQ2132ABCDE");
    assert.equal(got.get("edge-gateway/van/status"), "online");
    await waitFor(() => got.get("edge-gateway/van/mppt1/availability") === "online", {
      what: "online",
    });
    const state = JSON.parse(got.get("edge-gateway/van/mppt1/state")!);
    assert.equal(typeof state.V, "number");

    // Unplug the MPPT: offline within offline_after; replug: online again.
    await van.unplugMppt();
    await waitFor(() => got.get("edge-gateway/van/mppt1/availability") === "offline", {
      what: "offline after unplug",
    });
    assert.notEqual(
      got.get("edge-gateway/van/bmv1/availability"),
      "offline",
      "the BMV stays online",
    );
    await van.replugMppt();
    await waitFor(() => got.get("edge-gateway/van/mppt1/availability") === "online", {
      what: "online after replug",
    });
  } finally {
    await sub.endAsync(true);
    await van.stop();
  }
});
