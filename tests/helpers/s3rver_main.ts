/** Runs s3rver (a local S3 server): `s3rver_main.ts PORT DIR [CERT KEY]` (https with the last two). */
import S3rver from "s3rver";

const [port, directory, cert, key] = Deno.args;
const tls = cert ? { cert: Deno.readTextFileSync(cert), key: Deno.readTextFileSync(key) } : {};
const server = new S3rver({
  port: Number(port),
  address: "127.0.0.1",
  directory,
  silent: true,
  ...tls,
});
await server.run();
Deno.addSignalListener("SIGTERM", () => server.close().then(() => Deno.exit(0)));
