/** What the function sees of process.env, values included. */
export function values() {
  return { ...process.env };
}
