/** Never returns and never yields: only terminating its thread stops it. */
export function forever() {
  for (;;) {}
}
