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

/**
 * CPU seconds (user + system) a process has used, all its threads together, Linux: or one
 * thread's when `thread` (a task id) is given.
 */
export function cpuSeconds(pid: number, thread?: number): number {
  const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
  const stat = Deno.readTextFileSync(path);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
}
