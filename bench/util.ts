/** Helpers for benchmarks: machine description and timing. */

/** One line describing the machine the figures come from. */
export function machine(): string {
  let cpu = "unknown cpu";
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    cpu = /model name\s*:\s*(.+)/.exec(info)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  const mem = Deno.systemMemoryInfo();
  return `${cpu}, ${navigator.hardwareConcurrency} cores, ${
    (mem.total / 1024 ** 3).toFixed(0)
  } GiB, deno ${Deno.version.deno}`;
}

/** Runs `fn` and returns seconds elapsed. */
export async function seconds(fn: () => unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

/** Prints one figure line. */
export function report(name: string, value: string, detail = ""): void {
  console.log(`${name.padEnd(44)} ${value.padStart(16)}  ${detail}`);
}
