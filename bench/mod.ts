/** Benchmarks: run with `deno task bench`. Prints figures; asserts nothing. */
console.log("benchmarks: see bench/*.ts");
