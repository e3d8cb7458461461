/** A result PostgreSQL cannot hold as it is: NUL and a lone surrogate, in a value and a key. */
export function text() {
  return { "key\u0000": "a\u0000b", lone: "x\uD800y", pair: "\uD83D\uDE00" };
}
