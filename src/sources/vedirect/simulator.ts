import { concatBytes, seededRandom } from "../../util/bytes.ts";
import { decodeHex, encodeHex, HexCommand, HexFlags, registerResponse } from "./hex.ts";
import { encodeDayHistory, HISTORY_TODAY } from "./history.ts";
import { localDayNumber, localHour, systemZone } from "../../util/zone.ts";
import { boundsOf, rawValue, settingsOf, type SettingSpec } from "../../victron/settings.ts";

/** Kinds of device the simulator can play. */
export type SimulatedDevice = "mppt" | "bmv";

const encoder = new TextEncoder();

/** Encodes one text block with a correct checksum byte (which may be any value). */
export function encodeBlock(fields: [string, string][]): Uint8Array {
  const body = encoder.encode(
    fields.map(([k, v]) => `\r\n${k}\t${v}`).join("") + "\r\nChecksum\t",
  );
  let sum = 0;
  for (const b of body) sum += b;
  const out = new Uint8Array(body.length + 1);
  out.set(body);
  out[body.length] = (256 - (sum & 0xff)) & 0xff;
  return out;
}

/** Sun elevation factor 0..1 over the local day (06:00-18:00 in the site's time zone). */
export function sun(ms: number, timeZone: string): number {
  const hour = localHour(ms, timeZone);
  return Math.max(0, Math.sin(Math.PI * (hour - 6) / 12));
}

/** Options of {@link DeviceSimulator}. */
export interface DeviceSimulatorOptions {
  serial?: string;
  seed?: number;
  /** Send a HEX async message every N frames, glued to the checksum byte (0 = never). */
  hexEvery?: number;
  /** Where the simulated site is: its sun rises at 06:00 there (default the system's zone). */
  timeZone?: string;
}

/**
 * The serial number a simulated device reports: one per kind and seed, so that two simulated
 * chargers are two devices to Home Assistant, Venus and /metrics (seed 1 keeps the first one's).
 */
function simulatedSerial(kind: SimulatedDevice, seed: number): string {
  const first = kind === "mppt" ? "HQ2132ABCDE" : "HQ2045XYZ12";
  if (seed === 1) return first;
  const tail = ((seed * 7919) % 36 ** 5).toString(36).toUpperCase().padStart(5, "0");
  return first.slice(0, 6) + tail;
}

/** A simulated Victron device: produces the bytes it would send each second and answers HEX. */
export class DeviceSimulator {
  readonly #random: () => number;
  readonly #seed: number;
  readonly #serial: string;
  readonly #hexEvery: number;
  readonly #zone: string;
  #frames = 0;
  #soc = 850; // permille
  #ce = -30_000; // mAh
  #yieldToday = 0; // Wh
  #maxPowerToday = 0;
  /** Today's battery voltage range (V) and minutes per charge state (3 bulk, 4 abs, 5 float). */
  #vbatRange: [number, number] | null = null;
  #stageSeconds: Record<number, number> = { 3: 0, 4: 0, 5: 0 };
  #lastAt: number | null = null;
  #today: number | null = null;
  /** The device's settings by register (raw values), changed by HEX sets for the whole run. */
  readonly settings = new Map<number, number>();

  constructor(readonly kind: SimulatedDevice, options: DeviceSimulatorOptions = {}) {
    this.#seed = options.seed ?? 1;
    this.#random = seededRandom(this.#seed);
    this.#serial = options.serial ?? simulatedSerial(kind, this.#seed);
    this.#hexEvery = options.hexEvery ?? 10;
    this.#zone = options.timeZone ?? systemZone();
    const defaults: Record<string, number> = kind === "mppt"
      ? {
        device_mode: 1,
        load_output: 1,
        // Type 3 is the preset whose voltages these are (14.4 V absorption, 13.8 V float).
        battery_type: 3,
        absorption_voltage: 1440,
        float_voltage: 1380,
        max_charge_current: 150,
      }
      : {
        battery_capacity: 200,
        charged_voltage: 132,
        tail_current: 40,
        charged_detection_time: 3,
        charge_efficiency: 95,
        peukert_exponent: 125,
      };
    for (const spec of this.#specs) this.settings.set(spec.register, defaults[spec.name]);
  }

  get #specs(): SettingSpec[] {
    return settingsOf(this.kind === "mppt" ? "charger" : "monitor");
  }

  #setting(name: string): number {
    return this.settings.get(this.#specs.find((s) => s.name === name)!.register)!;
  }

  #noise(scale: number): number {
    return (this.#random() - 0.5) * 2 * scale;
  }

  /** The bytes the device sends at time `now` (one MPPT block or both BMV blocks). */
  frame(now: number): Uint8Array {
    const dt = this.#lastAt === null ? 1 : Math.min(60, (now - this.#lastAt) / 1000);
    this.#lastAt = now;
    this.#frames++;
    const parts = this.kind === "mppt" ? [this.#mppt(now, dt)] : this.#bmv(now, dt);
    if (this.#hexEvery > 0 && this.#frames % this.#hexEvery === 0) {
      parts.push(encoder.encode(this.#asyncMessage(now)));
    }
    return concatBytes(parts);
  }

  /** The battery voltage in 0.01 V the device would report now. */
  #batteryCentivolts(now: number): number {
    const s = sun(now, this.#zone);
    return Math.round(1260 + 160 * s + 60 * (this.#soc / 1000));
  }

  #mppt(now: number, dt: number): Uint8Array {
    // A new day where the site is: today's figures start again, as a charger's do.
    const day = localDayNumber(now, this.#zone);
    if (this.#today !== null && day !== this.#today) {
      [this.#yieldToday, this.#maxPowerToday, this.#vbatRange] = [0, 0, null];
      this.#stageSeconds = { 3: 0, 4: 0, 5: 0 };
    }
    this.#today = day;
    const s = sun(now, this.#zone);
    const on = this.#setting("device_mode") === 1;
    const vbat = this.#batteryCentivolts(now) * 10 + Math.round(this.#noise(5));
    // The charger never pushes more than its maximum charge current into the battery.
    const maxCurrent = this.#setting("max_charge_current") / 10;
    const available = s > 0 ? Math.max(0, Math.round(220 * s + this.#noise(4))) : 0;
    const ppv = on ? Math.min(available, Math.floor(maxCurrent * vbat / 1000)) : 0;
    const vpv = s > 0 ? Math.round(34_000 + 4000 * s + this.#noise(200)) : 450;
    const load = this.#setting("load_output") !== 0;
    const loadMa = load ? 300 : 0;
    const current = Math.round((ppv / (vbat / 1000)) * 1000) - loadMa;
    this.#yieldToday += ppv * dt / 3600;
    this.#maxPowerToday = Math.max(this.#maxPowerToday, ppv);
    const absorption = this.#setting("absorption_voltage") * 10;
    const cs = ppv < 2 ? 0 : vbat >= absorption - 200 ? 4 : 3;
    const v = vbat / 1000;
    this.#vbatRange = this.#vbatRange
      ? [Math.min(this.#vbatRange[0], v), Math.max(this.#vbatRange[1], v)]
      : [v, v];
    if (cs in this.#stageSeconds) this.#stageSeconds[cs] += dt;
    return encodeBlock([
      ["PID", "0xA053"],
      ["FW", "159"],
      ["SER#", this.#serial],
      ["V", String(vbat)],
      ["I", String(current)],
      ["VPV", String(vpv)],
      ["PPV", String(ppv)],
      ["CS", String(cs)],
      ["MPPT", cs === 0 ? "0" : "2"],
      ["OR", !on ? "0x00000004" : cs === 0 ? "0x00000001" : "0x00000000"],
      ["ERR", "0"],
      ["LOAD", load ? "ON" : "OFF"],
      ["IL", String(loadMa)],
      ["H19", String(10_234 + Math.floor(this.#yieldToday / 10))],
      ["H20", String(Math.floor(this.#yieldToday / 10))],
      ["H21", String(this.#maxPowerToday)],
      // Yesterday as the HEX day record says it (the device view's bars): one history.
      ["H22", String(Math.round(this.#pastDay(1, now).yieldWh / 10))],
      ["H23", String(this.#pastDay(1, now).maxPower)],
      ["HSDS", String(localDayNumber(now, this.#zone) % 365)],
    ]);
  }

  #bmv(now: number, dt: number): Uint8Array[] {
    const s = sun(now, this.#zone);
    const current = Math.round(8000 * s - 3500 + this.#noise(150)); // mA
    this.#ce = Math.min(0, this.#ce + current * dt / 3600);
    const capacityMah = this.#setting("battery_capacity") * 1000;
    this.#soc = Math.max(0, Math.min(1000, 1000 + this.#ce / (capacityMah / 1000)));
    const v = this.#batteryCentivolts(now) * 10 + Math.round(current / 100);
    const ttg = current < 0 ? Math.round((capacityMah + this.#ce) / -current * 60) : -1;
    const first = encodeBlock([
      ["PID", "0x204"],
      ["V", String(v)],
      ["VS", String(12_700 + Math.round(this.#noise(20)))],
      ["I", String(current)],
      ["P", String(Math.round(v * current / 1e6))],
      ["CE", String(Math.round(this.#ce))],
      ["SOC", String(Math.round(this.#soc))],
      ["TTG", String(ttg)],
      ["Alarm", "OFF"],
      ["Relay", "OFF"],
      ["AR", "0"],
      ["BMV", "702"],
      ["FW", "0419"],
    ]);
    const second = encodeBlock([
      ["H1", "-102345"],
      ["H2", "-30000"],
      ["H3", "-45000"],
      ["H4", "128"],
      ["H5", "0"],
      ["H6", "-7654321"],
      ["H7", "11800"],
      ["H8", "14750"],
      ["H9", "86400"],
      ["H10", "42"],
      ["H11", "0"],
      ["H12", "0"],
      ["H17", "45678"],
      ["H18", "51234"],
    ]);
    return [first, second];
  }

  // Async battery-voltage register update (0xEDD5, 0.01 V), as chargers push them.
  #asyncMessage(now: number): string {
    return registerResponse(HexCommand.Async, 0xedd5, { value: this.#batteryCentivolts(now) });
  }

  /** The device's answer to a HEX request line (`:...\n`), or null for no answer. */
  reply(request: string, now: number): string | null {
    const text = request.trim().replace(/^:/, "");
    const msg = decodeHex(text);
    if ("error" in msg) return encodeHex(0x4, new Uint8Array([0xaa, 0xaa]));
    if (msg.command === HexCommand.Ping) return encodeHex(0x5, new Uint8Array([0x59, 0x41]));
    const isSet = msg.command === HexCommand.Set;
    if ((msg.command !== HexCommand.Get && !isSet) || msg.register === undefined) {
      return encodeHex(0x3, new Uint8Array([msg.command]));
    }
    if (isSet) return this.#set(msg.register, msg.value);
    const known: Record<number, number> = {
      ...Object.fromEntries(this.settings),
      0xedd5: this.#batteryCentivolts(now),
      0x0fff: Math.round(this.#soc / 10 * 100), // SOC, 0.01 %
    };
    const ago = msg.register - HISTORY_TODAY;
    if (this.kind === "mppt" && ago >= 0 && ago <= 30) {
      return registerResponse(HexCommand.Get, msg.register, { bytes: this.#day(ago, now) });
    }
    const value = known[msg.register];
    if (value === undefined) {
      return registerResponse(HexCommand.Get, msg.register, {
        size: 0,
        flags: HexFlags.UnknownId,
      });
    }
    const size = this.#specs.find((spec) => spec.register === msg.register)?.size ?? 2;
    return registerResponse(HexCommand.Get, msg.register, { value, size });
  }

  /** Day record `ago` days back: today's from the run, earlier ones made up from the seed. */
  #day(ago: number, now: number): Uint8Array {
    const day = localDayNumber(now, this.#zone) % 365;
    if (ago === 0) {
      const [vbatMin, vbatMax] = this.#vbatRange ?? [0, 0];
      const minutes = (cs: number) => Math.floor(this.#stageSeconds[cs] / 60);
      return encodeDayHistory({
        vbatMin,
        vbatMax,
        bulk: minutes(3),
        absorption: minutes(4),
        float: minutes(5),
        yieldWh: this.#yieldToday,
        maxPower: this.#maxPowerToday,
        day,
      });
    }
    return encodeDayHistory(this.#pastDay(ago, now));
  }

  /**
   * A past day, made up from its weather: the same for the same seed and day. Yield in whole
   * 10 Wh (the H22 field's resolution), peak power within what a 75/15 on 12 V gives (~216 W).
   */
  #pastDay(ago: number, now: number) {
    const day = Math.floor(now / 86_400_000) % 365;
    const weather = seededRandom(this.#seed * 1000 + (day - ago))();
    return {
      vbatMin: 12.4 + weather / 2,
      vbatMax: 14.1 + weather / 4,
      bulk: Math.round(120 + 200 * weather),
      absorption: Math.round(60 * weather),
      float: Math.round(300 * weather),
      yieldWh: 10 * Math.round(25 + 115 * weather),
      maxPower: Math.round(60 + 150 * weather),
      day: (day - ago + 365) % 365,
    };
  }

  /** A set: stored when the register is a setting and the value within the device's limits. */
  #set(register: number, raw: number | undefined): string {
    const spec = this.#specs.find((s) => s.register === register);
    if (!spec) {
      return registerResponse(HexCommand.Set, register, { size: 0, flags: HexFlags.UnknownId });
    }
    const [min, max] = boundsOf(spec);
    const value = raw === undefined ? NaN : spec.choices ? raw : raw * spec.scale;
    const fits = spec.choices ? !("error" in rawValue(spec, raw)) : value >= min && value <= max;
    if (!fits) {
      const current = this.settings.get(register)!;
      return registerResponse(HexCommand.Set, register, {
        value: current,
        size: spec.size,
        flags: HexFlags.ParameterError,
      });
    }
    this.settings.set(register, raw!);
    return registerResponse(HexCommand.Set, register, { value: raw, size: spec.size });
  }
}
