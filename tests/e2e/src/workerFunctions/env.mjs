/** What the function sees of process.env. */
export function keys() {
  return Object.keys(process.env);
}
