/**
 * A Kafka protocol peer for the tests: librdkafka's mock cluster (Debian's
 * librdkafka-dev) on a real TCP port, built with gcc from kafka_mock.c. Its broker
 * can be taken down and brought back, keeping what it stored.
 */

/** A running mock cluster. */
export interface KafkaMock {
  /** `127.0.0.1:<port>` */
  bootstrap: string;
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

let built: Promise<string> | null = null;

function build(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "kafka-mock-" });
    const source = new URL("./kafka_mock.c", import.meta.url).pathname;
    const out = await new Deno.Command("gcc", {
      args: ["-O2", "-o", `${dir}/kafka_mock`, source, "-lrdkafka"],
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`gcc kafka_mock.c: ${new TextDecoder().decode(out.stderr)}`);
    return `${dir}/kafka_mock`;
  })();
  return built;
}

/** Starts a one-broker mock cluster. */
export async function startKafkaMock(): Promise<KafkaMock> {
  const child = new Deno.Command(await build(), {
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const nextLine = async (): Promise<string> => {
    while (!buffer.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the Kafka mock cluster exited");
      buffer += value;
    }
    const i = buffer.indexOf("\n");
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    return line;
  };
  const bootstrap = (await nextLine()).trim();
  const stdin = child.stdin.getWriter();
  const command = async (c: string) => {
    await stdin.write(new TextEncoder().encode(c + "\n"));
    await nextLine();
  };
  return {
    bootstrap,
    down: () => command("down"),
    up: () => command("up"),
    async stop() {
      await stdin.close().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.status;
    },
  };
}
