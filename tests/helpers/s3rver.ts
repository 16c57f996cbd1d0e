/** s3rver (npm) for the tests, and a minio client for it. */
import * as Minio from "minio";
import { Buffer } from "node:buffer";
import { freePort, Server, tcpOpen } from "./server.ts";
import type { TestCa } from "./tls.ts";

/** s3rver (npm) in its own process, storing objects in a temp dir; https with `tls`. */
export async function startS3rver(options: { tls?: TestCa } = {}): Promise<Server> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "s3rver-" });
  const main = new URL("./s3rver_main.ts", import.meta.url).pathname;
  return await new Server(
    "s3rver",
    port,
    dir,
    [
      Deno.execPath(),
      "run",
      "-A",
      main,
      String(port),
      dir,
      ...(options.tls ? [options.tls.cert, options.tls.key] : []),
    ],
    () => tcpOpen(port),
  ).start();
}

/** An npm:minio client for an s3rver started by {@link startS3rver}. */
export function s3rverClient(port: number): Minio.Client {
  return new Minio.Client({
    endPoint: "127.0.0.1",
    port,
    useSSL: false,
    accessKey: "S3RVER",
    secretKey: "S3RVER",
  });
}

/** Every object key under a prefix, sorted. */
export async function objectKeys(
  client: Minio.Client,
  bucket: string,
  prefix = "",
): Promise<string[]> {
  const names: string[] = [];
  for await (const o of client.listObjectsV2(bucket, prefix, true)) names.push(o.name);
  return names.sort();
}

/** One object's bytes. */
export async function readObject(
  client: Minio.Client,
  bucket: string,
  key: string,
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of await client.getObject(bucket, key)) chunks.push(c);
  return Buffer.concat(chunks);
}
