/** The Redis scripts in `lua/`, read once (also from inside a compiled binary). */
export async function readLuaScript(name: string): Promise<string> {
  const url = new URL(`../../lua/${name}.lua`, import.meta.url);
  return await Deno.readTextFile(url);
}
