/** Runs s3rver (a local S3 server) on a port and directory: `s3rver_main.ts PORT DIR`. */
import S3rver from "s3rver";

const [port, directory] = Deno.args;
const server = new S3rver({ port: Number(port), address: "127.0.0.1", directory, silent: true });
await server.run();
Deno.addSignalListener("SIGTERM", () => server.close().then(() => Deno.exit(0)));
