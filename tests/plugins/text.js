// A plugin for isobox's plugin tests: well-behaved exports and misbehaving ones.
let calls = 0;

export function upper(input) {
  calls += 1;
  return input.toUpperCase();
}

export async function words(input) {
  console.log("splitting", input.length, "characters");
  await null;
  return input.split(/\s+/).filter(Boolean);
}

export const count = (input) => ({ calls, words: input.split(" ").length });

export function fail(input) {
  throw new RangeError("no " + input);
}

export function spin() {
  for (;;) {}
}

export function hoard() {
  const chunks = [];
  for (;;) chunks.push(new Array(1 << 16).fill(chunks.length));
}

export function chatty() {
  for (;;) console.log("x".repeat(1000));
}

export function recurse(n) {
  return recurse(n + 1) + 1;
}

export async function remember(input) {
  await kv.set(input.key, input.value);
  return await kv.get(input.key);
}
