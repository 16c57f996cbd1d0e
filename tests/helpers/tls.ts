/** A throwaway certificate authority and a server certificate for 127.0.0.1, made with openssl. */

/** Paths of the CA certificate and the server's certificate and key. */
export interface TestCa {
  ca: string;
  cert: string;
  key: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A key and a certificate `<name>.crt` signed by the CA in `dir`, valid `days` (0: none). */
async function sign(
  dir: string,
  name: string,
  options: { subject: string; days: number; extensions: string },
): Promise<void> {
  await openssl(dir, [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    options.subject,
  ]);
  await Deno.writeTextFile(`${dir}/${name}.cnf`, `${options.extensions}\n`);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    String(options.days),
    "-extfile",
    `${name}.cnf`,
  ]);
}

/** Makes a CA and a certificate it signed for 127.0.0.1 / localhost, in a temp dir. */
export async function makeTestCa(): Promise<TestCa> {
  const dir = await Deno.makeTempDir({ prefix: "ca-" });
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=edge-gateway test CA",
  ]);
  await sign(dir, "server", {
    subject: "/CN=127.0.0.1",
    days: 2,
    extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost",
  });
  // mosquitto started as root drops to its own user: it must be able to read them (test keys).
  await Deno.chmod(dir, 0o755);
  for (const f of ["ca.crt", "server.crt", "server.key"]) await Deno.chmod(`${dir}/${f}`, 0o644);
  return { ca: `${dir}/ca.crt`, cert: `${dir}/server.crt`, key: `${dir}/server.key` };
}

/**
 * A further certificate signed by the test CA: a client certificate for `name`, or a server
 * certificate for 127.0.0.1 that has already expired (valid for no time at all).
 */
export async function signCertificate(
  ca: TestCa,
  options: { kind: "client" | "expired-server"; name: string },
): Promise<{ cert: string; key: string }> {
  const dir = ca.ca.slice(0, ca.ca.lastIndexOf("/"));
  const { name, kind } = options;
  // Extensions make it an X.509 v3 certificate: rustls refuses v1 ones.
  await sign(
    dir,
    name,
    kind === "client"
      ? { subject: `/CN=${name}`, days: 2, extensions: "extendedKeyUsage=clientAuth" }
      : {
        subject: "/CN=127.0.0.1",
        days: 0,
        extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost",
      },
  );
  if (kind === "expired-server") {
    // Not valid after the second it was made in: a second later it has expired.
    await new Promise((r) => setTimeout(r, 1100));
  }
  return { cert: `${dir}/${name}.crt`, key: `${dir}/${name}.key` };
}
